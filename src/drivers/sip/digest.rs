//! Digest authentication for SIP (RFC 3261 §22.4, RFC 2617, RFC 7616, RFC 8760): reading
//! a `WWW-Authenticate`/`Proxy-Authenticate` challenge and computing the
//! `Authorization`/`Proxy-Authorization` answer. MD5 and SHA-256 (and their `-sess`
//! forms), with `qop=auth` (nonce count and cnonce) or without qop.
//!
//! The challenge's grammar is parsed by `sip-header`; the hashes come from `md-5` and
//! `sha2`. The response formula itself is the few lines of RFC 7616 §3.4.1, written here
//! because the crates that ship it do so inside a whole SIP stack (rsip, rvoip).

use md5::Md5;
use sha2::{Digest, Sha256};
use sip_header::SipAuthValue;

/// A digest hash algorithm (RFC 8760 §2.1 names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Md5Sess,
    Sha256,
    Sha256Sess,
}

impl Algorithm {
    fn parse(name: &str) -> Option<Algorithm> {
        Some(match name.to_ascii_uppercase().as_str() {
            "MD5" => Algorithm::Md5,
            "MD5-SESS" => Algorithm::Md5Sess,
            "SHA-256" => Algorithm::Sha256,
            "SHA-256-SESS" => Algorithm::Sha256Sess,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    fn hash(self, data: &str) -> String {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => hex::encode(Md5::digest(data.as_bytes())),
            Algorithm::Sha256 | Algorithm::Sha256Sess => {
                hex::encode(Sha256::digest(data.as_bytes()))
            }
        }
    }

    fn strength(self) -> u8 {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => 0,
            Algorithm::Sha256 | Algorithm::Sha256Sess => 1,
        }
    }

    fn sess(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }
}

/// One digest challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// From a 407 (`Proxy-Authenticate`): answered with `Proxy-Authorization`.
    pub proxy: bool,
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    pub algorithm: Algorithm,
    /// The server offered `qop=auth` (answered with nc and cnonce).
    pub qop_auth: bool,
    /// `stale=true`: the nonce expired but the credentials were right; retry.
    pub stale: bool,
}

impl Challenge {
    /// Parses one challenge header value.
    pub fn parse(value: &str, proxy: bool) -> Result<Challenge, String> {
        let auth = SipAuthValue::parse(value).map_err(|e| format!("{e}"))?;
        if !auth.scheme().eq_ignore_ascii_case("Digest") {
            return Err(format!("scheme '{}' is not Digest", auth.scheme()));
        }
        let realm = auth.realm().ok_or("no realm")?.to_string();
        let nonce = auth.nonce().ok_or("no nonce")?.to_string();
        let algorithm = match auth.algorithm() {
            None => Algorithm::Md5,
            Some(name) => {
                Algorithm::parse(name).ok_or_else(|| format!("unsupported algorithm {name}"))?
            }
        };
        let qop_auth = match auth.qop() {
            None => false,
            Some(list) => {
                let auth_offered = list
                    .split(',')
                    .any(|q| q.trim().eq_ignore_ascii_case("auth"));
                if !auth_offered {
                    return Err(format!(
                        "qop '{list}' does not offer 'auth' (auth-int is not supported)"
                    ));
                }
                true
            }
        };
        let stale = auth
            .param("stale")
            .is_some_and(|s| s.eq_ignore_ascii_case("true"));
        Ok(Challenge {
            proxy,
            realm,
            nonce,
            opaque: auth.opaque().map(str::to_string),
            algorithm,
            qop_auth,
            stale,
        })
    }

    /// The challenge to answer among several (RFC 8760 §2.4: a server may offer one per
    /// algorithm, preferred first): the strongest supported one. `Err` quotes why none
    /// can be answered.
    pub fn choose<'a>(
        values: impl Iterator<Item = &'a str>,
        proxy: bool,
    ) -> Result<Challenge, String> {
        let mut best: Option<Challenge> = None;
        let mut why = Vec::new();
        for value in values {
            match Challenge::parse(value, proxy) {
                Ok(c) => {
                    if best
                        .as_ref()
                        .is_none_or(|b| c.algorithm.strength() > b.algorithm.strength())
                    {
                        best = Some(c);
                    }
                }
                Err(e) => why.push(format!("'{value}': {e}")),
            }
        }
        best.ok_or_else(|| {
            if why.is_empty() {
                format!(
                    "no {} header",
                    if proxy {
                        "Proxy-Authenticate"
                    } else {
                        "WWW-Authenticate"
                    }
                )
            } else {
                format!("cannot answer the challenge: {}", why.join("; "))
            }
        })
    }

    /// The header the answer goes in.
    pub fn answer_header(&self) -> &'static str {
        if self.proxy {
            "Proxy-Authorization"
        } else {
            "Authorization"
        }
    }

    /// The answer's header value for `method` on `uri`, as the `nc`-th use of this
    /// nonce with client nonce `cnonce`.
    pub fn answer(
        &self,
        username: &str,
        password: &str,
        method: &str,
        uri: &str,
        nc: u32,
        cnonce: &str,
    ) -> String {
        let alg = self.algorithm;
        let mut ha1 = alg.hash(&format!("{username}:{}:{password}", self.realm));
        if alg.sess() {
            ha1 = alg.hash(&format!("{ha1}:{}:{cnonce}", self.nonce));
        }
        let ha2 = alg.hash(&format!("{method}:{uri}"));
        let nc_text = format!("{nc:08x}");
        let response = if self.qop_auth {
            alg.hash(&format!(
                "{ha1}:{}:{nc_text}:{cnonce}:auth:{ha2}",
                self.nonce
            ))
        } else {
            alg.hash(&format!("{ha1}:{}:{ha2}", self.nonce))
        };
        let mut out = format!(
            "Digest username=\"{username}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", response=\"{response}\", algorithm={}",
            self.realm,
            self.nonce,
            alg.name()
        );
        if self.qop_auth {
            out.push_str(&format!(", qop=auth, nc={nc_text}, cnonce=\"{cnonce}\""));
        }
        if let Some(opaque) = &self.opaque {
            out.push_str(&format!(", opaque=\"{opaque}\""));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response_of(answer: &str) -> &str {
        let start = answer.find("response=\"").unwrap() + 10;
        &answer[start..start + answer[start..].find('"').unwrap()]
    }

    #[test]
    fn rfc_2069_md5_without_qop() {
        let c = Challenge::parse(
            r#"Digest realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
            false,
        )
        .unwrap();
        assert!(!c.qop_auth);
        let a = c.answer("Mufasa", "CircleOfLife", "GET", "/dir/index.html", 1, "x");
        assert_eq!(response_of(&a), "1949323746fe6a43ef61f9606e7febea");
        assert!(!a.contains("nc="));
        assert!(a.contains(r#"opaque="5ccc069c403ebaf9f0171e9517f40e41""#));
    }

    #[test]
    fn rfc_2617_md5_with_qop_auth() {
        let c = Challenge::parse(
            r#"Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
            false,
        )
        .unwrap();
        assert!(c.qop_auth);
        let a = c.answer(
            "Mufasa",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            1,
            "0a4f113b",
        );
        assert_eq!(response_of(&a), "6629fae49393a05397450978507c4ef1");
        assert!(a.contains("qop=auth, nc=00000001, cnonce=\"0a4f113b\""));
    }

    #[test]
    fn rfc_7616_sha256_and_md5() {
        let nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
        let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
        for (alg, expected) in [
            (
                "SHA-256",
                "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
            ),
            ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ] {
            let value = format!(
                r#"Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={alg}, nonce="{nonce}", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#
            );
            let c = Challenge::parse(&value, false).unwrap();
            let a = c.answer(
                "Mufasa",
                "Circle of Life",
                "GET",
                "/dir/index.html",
                1,
                cnonce,
            );
            assert_eq!(response_of(&a), expected, "{alg}");
        }
    }

    #[test]
    fn picks_the_strongest_and_reads_stale() {
        let values = [
            r#"Digest realm="r", nonce="n1", algorithm=MD5"#,
            r#"Digest realm="r", nonce="n2", algorithm=SHA-256, stale=true"#,
        ];
        let c = Challenge::choose(values.into_iter(), true).unwrap();
        assert_eq!(c.algorithm, Algorithm::Sha256);
        assert!(c.stale);
        assert_eq!(c.answer_header(), "Proxy-Authorization");
    }

    #[test]
    fn unsupported_challenges_say_why() {
        let e = Challenge::choose(
            [r#"Digest realm="r", nonce="n", algorithm=SHA-512-256"#].into_iter(),
            false,
        )
        .unwrap_err();
        assert!(e.contains("unsupported algorithm SHA-512-256"), "{e}");
        let e = Challenge::choose(
            [r#"Digest realm="r", nonce="n", qop="auth-int""#].into_iter(),
            false,
        )
        .unwrap_err();
        assert!(e.contains("auth-int is not supported"), "{e}");
        let e = Challenge::choose(std::iter::empty(), false).unwrap_err();
        assert_eq!(e, "no WWW-Authenticate header");
    }

    #[test]
    fn sess_variants_rehash_ha1() {
        let plain = Challenge::parse(
            r#"Digest realm="r", nonce="n", qop="auth", algorithm=MD5"#,
            false,
        )
        .unwrap();
        let sess = Challenge::parse(
            r#"Digest realm="r", nonce="n", qop="auth", algorithm=MD5-sess"#,
            false,
        )
        .unwrap();
        let a = plain.answer("u", "p", "REGISTER", "sip:h", 1, "c");
        let b = sess.answer("u", "p", "REGISTER", "sip:h", 1, "c");
        assert_ne!(response_of(&a), response_of(&b));
        assert!(b.contains("algorithm=MD5-sess"));
    }
}
