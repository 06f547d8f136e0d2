//! Connection admission: bounds on open connections in total and per source address,
//! and on upgraded connections that have not logged in yet. Each admitted connection
//! holds a permit that gives its place back when dropped, however the connection ends.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use super::config::Limits;
use super::shard::Sharded;

pub(crate) struct Admission {
    /// The bounds (total, per address, not logged in).
    limits: Limits,
    /// Open connections.
    open: AtomicUsize,
    /// Open connections per source address; addresses with none are absent.
    per_addr: Sharded<IpAddr, usize>,
    /// Upgraded connections not yet logged in.
    not_logged_in: AtomicUsize,
}

/// Why a connection was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    Total,
    PerAddr,
    NotLoggedIn,
}

impl Refused {
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Refused::Total => "too many connections",
            Refused::PerAddr => "too many connections from this address",
            Refused::NotLoggedIn => "too many connections waiting to log in",
        }
    }
}

/// An open connection's place; given back on drop.
pub(crate) struct ConnPermit {
    /// Where the place is given back.
    admission: Arc<Admission>,
    /// The source address whose count this holds.
    addr: IpAddr,
}

/// A place among the connections not yet logged in; given back on drop (at login).
pub(crate) struct LoginPermit {
    /// Where the place is given back.
    admission: Arc<Admission>,
}

impl Admission {
    pub(crate) fn new(limits: &Limits) -> Admission {
        Admission {
            limits: limits.clone(),
            open: AtomicUsize::new(0),
            per_addr: Sharded::new(),
            not_logged_in: AtomicUsize::new(0),
        }
    }

    pub(crate) fn open(&self) -> usize {
        self.open.load(Relaxed)
    }

    pub(crate) fn not_logged_in(&self) -> usize {
        self.not_logged_in.load(Relaxed)
    }

    /// Admits a new TCP connection from `addr`, or says which bound it would pass.
    pub(crate) fn connect(self: &Arc<Self>, addr: IpAddr) -> Result<ConnPermit, Refused> {
        if self.open.fetch_add(1, Relaxed) >= self.limits.connections {
            self.open.fetch_sub(1, Relaxed);
            return Err(Refused::Total);
        }
        {
            let mut shard = self.per_addr.lock(&addr);
            let n = shard.entry(addr).or_default();
            if *n >= self.limits.connections_per_addr {
                if *n == 0 {
                    shard.remove(&addr);
                }
                drop(shard);
                self.open.fetch_sub(1, Relaxed);
                return Err(Refused::PerAddr);
            }
            *n += 1;
        }
        Ok(ConnPermit {
            admission: self.clone(),
            addr,
        })
    }

    /// Admits an upgrade that has yet to log in.
    pub(crate) fn upgrade(self: &Arc<Self>) -> Result<LoginPermit, Refused> {
        if self.not_logged_in.fetch_add(1, Relaxed) >= self.limits.not_logged_in {
            self.not_logged_in.fetch_sub(1, Relaxed);
            return Err(Refused::NotLoggedIn);
        }
        Ok(LoginPermit {
            admission: self.clone(),
        })
    }
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        let admission = &self.admission;
        admission.open.fetch_sub(1, Relaxed);
        let mut shard = admission.per_addr.lock(&self.addr);
        if let Some(n) = shard.get_mut(&self.addr) {
            *n -= 1;
            if *n == 0 {
                shard.remove(&self.addr);
            }
        }
    }
}

impl Drop for LoginPermit {
    fn drop(&mut self) {
        self.admission.not_logged_in.fetch_sub(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_total_per_address_and_not_logged_in() {
        let a = Arc::new(Admission::new(&Limits {
            connections: 3,
            connections_per_addr: 2,
            not_logged_in: 1,
            ..Limits::default()
        }));
        let x: IpAddr = "10.0.0.1".parse().unwrap();
        let y: IpAddr = "10.0.0.2".parse().unwrap();
        let p1 = a.connect(x).unwrap();
        let _p2 = a.connect(x).unwrap();
        assert_eq!(a.connect(x).err(), Some(Refused::PerAddr));
        let _p3 = a.connect(y).unwrap();
        assert_eq!(a.connect(y).err(), Some(Refused::Total));
        drop(p1);
        assert!(a.connect(x).is_ok());
        let l = a.upgrade().unwrap();
        assert_eq!(a.upgrade().err(), Some(Refused::NotLoggedIn));
        drop(l);
        assert_eq!(a.not_logged_in(), 0);
        assert!(a.upgrade().is_ok());
    }
}
