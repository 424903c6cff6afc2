//! A TCP forwarder whose upstream can be switched between connections: one k6 run talks to
//! one service, the next run (new connections) to another. How a test makes a confirmation
//! re-run meet a different system than the run it confirms.

use std::io::copy;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

pub struct Forward {
    port: u16,
    upstream: Arc<AtomicU16>,
}

impl Forward {
    /// Listens on a free 127.0.0.1 port and forwards every new connection to `upstream`.
    pub fn start(upstream: u16) -> Forward {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        let target = Arc::new(AtomicU16::new(upstream));
        let current = Arc::clone(&target);
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let Ok(server) = TcpStream::connect(("127.0.0.1", current.load(Ordering::SeqCst))) else { continue };
                let (mut c_in, mut s_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = copy(&mut c_in, &mut s_out);
                    let _ = s_out.shutdown(Shutdown::Write);
                });
                let (mut s_in, mut c_out) = (server, client);
                std::thread::spawn(move || {
                    let _ = copy(&mut s_in, &mut c_out);
                    let _ = c_out.shutdown(Shutdown::Write);
                });
            }
        });
        Forward { port, upstream: target }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// New connections go to `port` from now on.
    pub fn switch_to(&self, port: u16) {
        self.upstream.store(port, Ordering::SeqCst);
    }
}
