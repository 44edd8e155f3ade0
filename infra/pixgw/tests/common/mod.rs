//! Starting the real `pixgw` binary in the process tests: one way to launch it and wait for
//! its banner, shared by every test file (each uses what it needs).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_pixgw");

/// The banner's last line: once printed, the gateway listens.
const BANNER_END: &str = "API reference:";

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// `pixgw serve` on `port` and `data_dir`, with the knobs a developer's environment might set
/// removed (store, scheduler interval, shutdown grace) and warnings only in the logs.
pub fn serve_command(data_dir: &Path, port: u16) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(["serve", "--port", &port.to_string(), "--data-dir"])
        .arg(data_dir)
        .env("RUST_LOG", "warn")
        .env_remove("PIXGW_STORE")
        .env_remove("PIXGW_SCHEDULER_INTERVAL")
        .env_remove("PIXGW_SHUTDOWN_GRACE");
    command
}

/// A running gateway and the banner it printed; SIGKILLed on drop if still running.
pub struct Running {
    pub child: Child,
    pub banner: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    /// The value the banner prints after `label` (e.g. `clientId`).
    pub fn value(&self, label: &str) -> String {
        banner_value(&self.banner, label)
    }
}

/// Spawns `command` and waits (at most 60 s) until it printed its whole banner.
pub fn spawn(mut command: Command) -> Running {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start pixgw");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut banner = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            banner.push_str(&line);
            banner.push('\n');
            if line.starts_with(BANNER_END) {
                let _ = tx.send(banner.clone());
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(banner) => Running { child, banner },
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("pixgw did not print its banner within 60 s");
        }
    }
}

pub fn banner_value(banner: &str, label: &str) -> String {
    banner
        .lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| panic!("{label} in banner:\n{banner}"))
}
