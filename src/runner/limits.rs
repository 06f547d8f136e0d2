//! How many connections one harness process can hold, checked before a run starts:
//! file descriptors (the soft limit is raised to the hard limit first) and ephemeral
//! ports per source address. A scenario that needs more is refused with the numbers and
//! the fix, instead of failing half-way with EMFILE or EADDRNOTAVAIL.

/// Descriptors kept free for everything that is not a connection (stdio, the runtime,
/// the listener, report files).
const RESERVED_FDS: u64 = 64;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the new soft limit.
pub fn raise_fd_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(_) => rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft),
    }
}

/// Local ports the kernel hands out for outgoing connections, per source address.
pub fn ephemeral_ports() -> u64 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut it = text.split_whitespace().map(|n| n.parse::<u64>().ok());
            Some(it.next()??..=it.next()??)
        })
        .map_or(28_232, |range| {
            range.end().saturating_sub(*range.start()) + 1
        })
}

/// Checks that `connections` client connections fit. `fds_per_connection` is 2 when the
/// server runs in the same process (it holds the other end), else 1.
pub fn check_capacity(
    connections: u64,
    fds_per_connection: u64,
    fd_limit: u64,
    ports_per_source: u64,
    sources: usize,
) -> Result<(), String> {
    let needed = connections
        .saturating_mul(fds_per_connection)
        .saturating_add(RESERVED_FDS);
    if needed > fd_limit {
        let usable = fd_limit.saturating_sub(RESERVED_FDS) / fds_per_connection.max(1);
        let shards = connections.div_ceil(usable.max(1));
        let embedded = if fds_per_connection > 1 {
            " (the embedded server holds the other end of each connection in this process; a separate server halves the need)"
        } else {
            ""
        };
        return Err(format!(
            "this scenario needs {connections} connections, i.e. {needed} file descriptors{embedded}, but this process may open {fd_limit}: \
             run it as {shards} shards (--shard 1/{shards} … --shard {shards}/{shards}, on separate processes or machines) or raise the limit (ulimit -n; the hard limit caps it)"
        ));
    }
    let sources = sources.max(1) as u64;
    if connections > ports_per_source.saturating_mul(sources) {
        let wanted = connections.div_ceil(ports_per_source);
        return Err(format!(
            "this scenario needs {connections} connections but one source address has only {ports_per_source} ephemeral ports \
             (net.ipv4.ip_local_port_range): spread them with --source-addrs over at least {wanted} local addresses, e.g. --source-addrs {}",
            (1..=wanted)
                .map(|i| format!("127.0.0.{i}"))
                .collect::<Vec<_>>()
                .join(",")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_many_connections_are_refused_with_numbers_and_a_fix() {
        assert!(check_capacity(1000, 1, 20_000, 28_000, 0).is_ok());
        let e = check_capacity(19_990, 2, 20_000, 28_000, 0).unwrap_err();
        assert!(e.contains("19990 connections"), "{e}");
        assert!(e.contains("--shard 1/3"), "{e}");
        assert!(e.contains("embedded server"), "{e}");
        let e = check_capacity(50_000, 1, 100_000, 28_000, 1).unwrap_err();
        assert!(e.contains("--source-addrs"), "{e}");
        assert!(e.contains("127.0.0.2"), "{e}");
        assert!(check_capacity(50_000, 1, 100_000, 28_000, 2).is_ok());
    }

    #[test]
    fn the_port_range_is_read() {
        assert!(ephemeral_ports() > 1000);
        assert!(raise_fd_limit() >= 256);
    }
}
