//! A PostgreSQL server of the test's own, from Debian's package (`initdb`, `pg_ctl`), on a
//! free loopback port, run as the `postgres` user when the test runs as root: a server the
//! test may crash (`pg_ctl stop -m immediate`) and start again.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A private server; stopped (immediately) when dropped.
pub struct PrivatePostgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

/// Where the server binaries are (`pg_config --bindir`), if PostgreSQL is installed.
fn bindir() -> Option<PathBuf> {
    let out = Command::new("pg_config").arg("--bindir").output().ok()?;
    let dir = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    dir.join("initdb").exists().then_some(dir)
}

/// `program args…`, as the `postgres` user when this process is root (the server refuses to
/// run as root).
fn as_server_user(program: &Path, args: &[&str]) -> Command {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if root {
        let mut command = Command::new("runuser");
        command
            .args(["-u", "postgres", "--"])
            .arg(program)
            .args(args);
        command
    } else {
        let mut command = Command::new(program);
        command.args(args);
        command
    }
}

fn run(command: &mut Command) {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl PrivatePostgres {
    /// Creates and starts a server; `None` (after saying so) when PostgreSQL is not installed,
    /// which `CI=true` does not allow.
    pub fn start() -> Option<PrivatePostgres> {
        let Some(bin) = bindir() else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but PostgreSQL's server binaries (pg_config --bindir) are missing"
            );
            eprintln!("skipped: PostgreSQL's server binaries are not installed");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        // The server user must own its directories (and reach them).
        run(Command::new("chmod").args(["755"]).arg(dir.path()));
        run(Command::new("chown")
            .args(["-R", "postgres"])
            .arg(dir.path()));
        let data_text = data.display().to_string();
        run(&mut as_server_user(
            &bin.join("initdb"),
            &[
                "-D",
                &data_text,
                "--auth=trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        ));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = PrivatePostgres {
            bin,
            data,
            port,
            _dir: dir,
        };
        server.start_again();
        Some(server)
    }

    /// Its URL, for the database `postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the (stopped or crashed) server and waits until it accepts connections.
    pub fn start_again(&self) {
        let data = self.data.display().to_string();
        let options = format!(
            "-p {} -k {data} -c listen_addresses=127.0.0.1 -c fsync=on",
            self.port
        );
        let log = self.data.join("server.log").display().to_string();
        run(&mut as_server_user(
            &self.bin.join("pg_ctl"),
            &[
                "-D", &data, "-o", &options, "-l", &log, "-w", "-t", "60", "start",
            ],
        ));
    }

    /// Kills the server as a crash would: no checkpoint, no clean shutdown of sessions.
    pub fn crash(&self) {
        let data = self.data.display().to_string();
        run(&mut as_server_user(
            &self.bin.join("pg_ctl"),
            &["-D", &data, "-m", "immediate", "-w", "stop"],
        ));
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data.display().to_string();
        let _ = as_server_user(
            &self.bin.join("pg_ctl"),
            &["-D", &data, "-m", "immediate", "stop"],
        )
        .output();
    }
}
