//! Network namespaces for tests and benchmarks (root only): `ip` run with its error as a
//! message, and a set of namespaces with loopback up, deleted with everything in them when the
//! set is dropped.

use std::io;
use std::process::Command;

/// Runs `ip ARGS`, failing with its message.
pub fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip").args(args).output()?;
    if out.status.success() {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}

/// Network namespaces made for a test, removed when dropped.
#[derive(Debug)]
pub struct Namespaces(Vec<String>);

impl Namespaces {
    /// Makes one namespace of each of `names`, loopback up, and nothing else.
    pub fn make<S: Into<String>>(names: impl IntoIterator<Item = S>) -> io::Result<Namespaces> {
        let mut made = Namespaces(Vec::new());
        for name in names {
            let name = name.into();
            ip(&["netns", "add", &name])?;
            made.0.push(name);
            ip(&[
                "-n",
                made.0.last().expect("just pushed"),
                "link",
                "set",
                "lo",
                "up",
            ])?;
        }
        Ok(made)
    }

    /// The name of the `i`th namespace made.
    pub fn name(&self, i: usize) -> &str {
        &self.0[i]
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = ip(&["netns", "del", name]);
        }
    }
}
