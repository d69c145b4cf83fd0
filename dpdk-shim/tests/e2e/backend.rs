//! The load-balancing test's application: a backend server that answers with its own name,
//! and the client side of one connection.
//!
//! A request is a line `REQ <id> <len>` followed by `len` bytes whose values follow from `id`
//! and their position; the server reads all of them, checks every byte, and answers
//! `<backend> <id> <seq> <len>` where `seq` counts the requests on this connection. A
//! connection may carry several requests (a long-lived one asks again after a while): the
//! same backend name and an increasing `seq` prove that every packet of the connection
//! reached the same server socket (a packet sent to another backend would have met no socket
//! there and been answered with a reset).

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Byte `i` of request `id`'s body.
fn body_byte(id: u32, i: usize) -> u8 {
    (id as usize).wrapping_mul(31).wrapping_add(i * 7) as u8
}

/// What one backend served: per request id, the requests its connection carried.
pub type Served = Arc<Mutex<HashMap<u32, u32>>>;

/// A backend's server: accepts on a listener (created in its namespace) until dropped, one
/// thread per connection.
pub struct Backend {
    pub served: Served,
    /// Requests that were malformed or cut short (with why).
    pub errors: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Backend {
    pub fn start(name: &str, listener: TcpListener) -> io::Result<Backend> {
        listener.set_nonblocking(true)?;
        let served: Served = Arc::default();
        let errors: Arc<Mutex<Vec<String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (n, sv, er, st) = (
            name.to_string(),
            served.clone(),
            errors.clone(),
            stop.clone(),
        );
        let thread = std::thread::Builder::new()
            .name(format!("backend-{name}"))
            .spawn(move || {
                let mut conns: Vec<JoinHandle<()>> = Vec::new();
                while !st.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((s, _)) => {
                            let (n, sv, er) = (n.clone(), sv.clone(), er.clone());
                            conns.push(std::thread::spawn(move || {
                                if let Err(e) = serve(&n, s, &sv) {
                                    er.lock()
                                        .unwrap_or_else(|e| e.into_inner())
                                        .push(e.to_string());
                                }
                            }));
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        Err(e) => {
                            er.lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .push(format!("accept: {e}"));
                            std::thread::sleep(Duration::from_millis(10));
                        }
                    }
                    conns.retain(|c| !c.is_finished());
                }
                for c in conns {
                    let _ = c.join();
                }
            })?;
        Ok(Backend {
            served,
            errors,
            stop,
            thread: Some(thread),
        })
    }

    /// Request ids served, with their request counts.
    pub fn served(&self) -> HashMap<u32, u32> {
        self.served
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn errors(&self) -> Vec<String> {
        self.errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves one connection until the client closes it.
fn serve(name: &str, s: TcpStream, served: &Served) -> io::Result<()> {
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut out = s.try_clone()?;
    let mut r = BufReader::new(s);
    let mut seq = 0u32;
    let mut line = String::new();
    let mut body = Vec::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let bad = || io::Error::other(format!("{name}: bad request line {line:?}"));
        let mut w = line.split_whitespace();
        let (Some("REQ"), Some(id), Some(len), None) = (w.next(), w.next(), w.next(), w.next())
        else {
            return Err(bad());
        };
        let id: u32 = id.parse().map_err(|_| bad())?;
        let len: usize = len.parse().map_err(|_| bad())?;
        body.resize(len, 0);
        r.read_exact(&mut body).map_err(|e| {
            io::Error::new(e.kind(), format!("{name}: request {id} cut short: {e}"))
        })?;
        if let Some(i) = (0..len).find(|&i| body[i] != body_byte(id, i)) {
            return Err(io::Error::other(format!(
                "{name}: request {id}: byte {i} of {len} is wrong"
            )));
        }
        seq += 1;
        served
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, seq);
        writeln!(out, "{name} {id} {seq} {len}")?;
    }
}

/// The client's side of a connection to the VIP.
pub struct Client {
    w: TcpStream,
    r: BufReader<TcpStream>,
    /// The backend that answered the first request.
    pub backend: Option<String>,
    requests: u32,
}

impl Client {
    pub fn new(s: TcpStream) -> io::Result<Client> {
        Ok(Client {
            r: BufReader::new(s.try_clone()?),
            w: s,
            backend: None,
            requests: 0,
        })
    }

    /// Sends request `id` with a `len`-byte body and checks the answer: the same backend as
    /// before on this connection, the next sequence number, the whole body seen. Returns the
    /// backend's name.
    pub fn request(&mut self, id: u32, len: usize) -> io::Result<String> {
        let t0 = Instant::now();
        let mut msg = format!("REQ {id} {len}\n").into_bytes();
        msg.extend((0..len).map(|i| body_byte(id, i)));
        self.w.write_all(&msg)?;
        let mut line = String::new();
        self.r.read_line(&mut line)?;
        let w: Vec<&str> = line.split_whitespace().collect();
        self.requests += 1;
        let want_tail = [id.to_string(), self.requests.to_string(), len.to_string()];
        if w.len() != 4 || w[1..] != want_tail {
            return Err(io::Error::other(format!(
                "request {id}: answer {line:?} after {:?}, expected '<backend> {}'",
                t0.elapsed(),
                want_tail.join(" ")
            )));
        }
        let name = w[0].to_string();
        match &self.backend {
            Some(b) if *b != name => {
                return Err(io::Error::other(format!(
                    "request {id}: answered by {name}, the connection began on {b}"
                )))
            }
            _ => self.backend = Some(name.clone()),
        }
        Ok(name)
    }
}
