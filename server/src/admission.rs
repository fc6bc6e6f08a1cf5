//! Who may open a connection: at most so many per address (an IPv6 address counts
//! by its /64, which one subscriber usually holds whole), and at most so many not
//! yet logged in, so that strangers cannot fill the server with silent sockets.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::addr_key::AddrKey;

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// This address holds its share of connections already.
    PerAddress,
    /// Too many connections are waiting to log in.
    Unauthenticated,
}

impl Refused {
    pub fn message(self) -> &'static str {
        match self {
            Refused::PerAddress => "too many connections from your address; close some and try again",
            Refused::Unauthenticated => "too many connections are waiting to log in; try again later",
        }
    }
}

/// The counts behind the caps; shared by the accept loop and every connection.
#[derive(Debug)]
pub struct Admission {
    per_addr: Mutex<HashMap<AddrKey, usize>>,
    max_per_addr: usize,
    unauthenticated: Arc<Semaphore>,
}

/// A connection's place under the caps, given back when it is dropped.
#[derive(Debug)]
pub struct Ticket {
    admission: Arc<Admission>,
    key: AddrKey,
    unauthenticated: Option<OwnedSemaphorePermit>,
}

impl Admission {
    pub fn new(max_per_addr: usize, max_unauthenticated: usize) -> Arc<Self> {
        Arc::new(Self {
            per_addr: Mutex::new(HashMap::new()),
            max_per_addr,
            unauthenticated: Arc::new(Semaphore::new(max_unauthenticated)),
        })
    }

    /// A place for a new (not yet logged in) connection from `ip`.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Ticket, Refused> {
        let key = AddrKey::of(ip);
        let permit =
            self.unauthenticated.clone().try_acquire_owned().map_err(|_| Refused::Unauthenticated)?;
        let mut counts = self.per_addr.lock().unwrap_or_else(|p| p.into_inner());
        let count = counts.entry(key).or_insert(0);
        if *count >= self.max_per_addr {
            return Err(Refused::PerAddress);
        }
        *count += 1;
        Ok(Ticket { admission: self.clone(), key, unauthenticated: Some(permit) })
    }

    fn release(&self, key: AddrKey) {
        let mut counts = self.per_addr.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = counts.get_mut(&key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&key);
            }
        }
    }
}

impl Ticket {
    /// The connection logged in: it no longer counts as waiting to.
    pub fn authenticated(&mut self) {
        self.unauthenticated = None;
    }

    /// The connection logged out: it counts as waiting to log in again. False when
    /// those are at their cap (the connection must then go).
    pub fn waiting_again(&mut self) -> bool {
        if self.unauthenticated.is_none() {
            self.unauthenticated = self.admission.unauthenticated.clone().try_acquire_owned().ok();
        }
        self.unauthenticated.is_some()
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.admission.release(self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn caps_per_address_and_gives_places_back() {
        let a = Admission::new(2, 100);
        let t1 = a.admit(ip("10.0.0.1")).unwrap();
        let _t2 = a.admit(ip("10.0.0.1")).unwrap();
        assert_eq!(a.admit(ip("10.0.0.1")).unwrap_err(), Refused::PerAddress);
        let _other = a.admit(ip("10.0.0.2")).unwrap();
        drop(t1);
        a.admit(ip("10.0.0.1")).unwrap();
        assert_eq!(a.admit(ip("2001:db8::1")).map(drop), Ok(()));
    }

    #[test]
    fn caps_connections_waiting_to_log_in_but_not_logged_in_ones() {
        let a = Admission::new(100, 2);
        let mut t1 = a.admit(ip("10.0.0.1")).unwrap();
        let _t2 = a.admit(ip("10.0.0.2")).unwrap();
        assert_eq!(a.admit(ip("10.0.0.3")).unwrap_err(), Refused::Unauthenticated);
        t1.authenticated();
        let _t3 = a.admit(ip("10.0.0.3")).unwrap();
        assert_eq!(a.per_addr.lock().unwrap().len(), 3, "the logged-in one still counts for its address");
    }
}
