//! A throwaway PostgreSQL cluster on 127.0.0.1, shared by every test process of a run.
//!
//! The first process to need the cluster runs `initdb` and `pg_ctl start` under a file lock;
//! later ones reuse it (it survives between runs, which makes them fast; `.ci/run` stops it
//! with `pg_ctl stop`). It lives in `target/lm-test-pg`, except when the tests run as root:
//! PostgreSQL refuses to run as root, so the cluster is created and started as the
//! `postgres` user, in a directory under the system temp dir that this user can reach
//! whatever the checkout's permissions. `target/lm-test-pg-data` records where the data
//! directory is. Each test gets a fresh database in the cluster.

use std::fs::{self, File};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Debian layout first, then whatever is on PATH.
fn pg_bin(tool: &str) -> PathBuf {
    let mut versions: Vec<PathBuf> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin").join(tool))
        .filter(|p| p.exists())
        .collect();
    versions.sort();
    versions.pop().unwrap_or_else(|| PathBuf::from(tool))
}

/// (uid, gid) of the `postgres` user when we are root, so servers run as that user.
fn run_as() -> Option<(u32, u32)> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return None;
    }
    let field = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, "postgres"]).output().ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    match (field("-u"), field("-g")) {
        (Some(u), Some(g)) => Some((u, g)),
        _ => panic!(
            "running as root but there is no `postgres` user: install PostgreSQL (apt-get install -y postgresql)"
        ),
    }
}

fn command(tool: &str, owner: Option<(u32, u32)>, root: &Path) -> Command {
    let mut cmd = Command::new(pg_bin(tool));
    if let Some((uid, gid)) = owner {
        cmd.uid(uid).gid(gid);
    }
    cmd.current_dir(root);
    cmd.env("LC_ALL", "C");
    cmd
}

fn run(mut cmd: Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run {what} ({e}); install PostgreSQL: apt-get install -y postgresql")
    });
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn chown_tree(path: &Path, owner: Option<(u32, u32)>) {
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown");
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Starts the shared cluster if needed and returns its base URL (without a database name).
pub fn cluster() -> String {
    let owner = run_as();
    let target = crate::target_dir();
    let root = match owner {
        None => target.join("lm-test-pg"),
        Some(_) => {
            // One cluster per checkout: name it after a hash of the target directory.
            let hash = target
                .to_string_lossy()
                .bytes()
                .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                    (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
                });
            std::env::temp_dir().join(format!("lm-test-pg-{hash:016x}"))
        }
    };
    fs::create_dir_all(&root).expect("create cluster dir");
    let lock = File::create(root.join("lock")).expect("lock file");
    lock.lock().expect("lock the cluster");
    let data = root.join("data");
    if !data.join("PG_VERSION").exists() {
        let _ = fs::remove_dir_all(&data);
        fs::create_dir_all(&data).expect("data dir");
        chown_tree(&root, owner);
        chown_tree(&data, owner);
        let mut initdb = command("initdb", owner, &root);
        initdb
            .args([
                "--auth=trust",
                "--username=postgres",
                "--encoding=UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&data);
        run(initdb, "initdb");
    }
    let port_file = root.join("port");
    fs::write(
        target.join("lm-test-pg-data"),
        data.to_string_lossy().as_bytes(),
    )
    .expect("record data dir");
    let running = command("pg_ctl", owner, &root)
        .arg("status")
        .arg("-D")
        .arg(&data)
        .output()
        .is_ok_and(|o| o.status.success());
    if !running {
        let port = free_port();
        let options = format!(
            "-p {port} -h 127.0.0.1 -k {} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400 -c max_wal_size=128MB",
            root.display()
        );
        let mut start = command("pg_ctl", owner, &root);
        start
            .args(["start", "-w", "-t", "60", "-D"])
            .arg(&data)
            .args(["-l"])
            .arg(root.join("log"))
            .args(["-o", &options]);
        run(start, "pg_ctl start");
        fs::write(&port_file, port.to_string()).expect("write port");
    }
    let port = fs::read_to_string(&port_file).expect("port file");
    format!("postgres://postgres@127.0.0.1:{}", port.trim())
}

/// A fresh, empty database in the shared cluster.
pub async fn fresh_database() -> String {
    let base = tokio::task::spawn_blocking(cluster)
        .await
        .expect("cluster thread");
    let name = format!("lm_{}", uuid::Uuid::now_v7().simple());
    let admin = format!("{base}/postgres");
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
        .await
        .expect("connect to test cluster");
    drop_stale_databases(&mut conn).await;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create test database");
    format!("{base}/{name}")
}

/// The cluster outlives test runs, so the databases of earlier runs would pile up (each is a
/// few MB). Their names carry a UUIDv7, whose first 48 bits are the creation time in ms:
/// anything older than an hour belongs to a finished run and is dropped. Failures are
/// ignored; another process may be dropping the same database.
async fn drop_stale_databases(conn: &mut sqlx::PgConnection) {
    const STALE_MS: u128 = 60 * 60 * 1000;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'lm\\_%'")
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
    for name in names {
        let created_ms = name
            .strip_prefix("lm_")
            .and_then(|hex| hex.get(..12))
            .and_then(|ms| u128::from_str_radix(ms, 16).ok());
        if created_ms.is_some_and(|ms| now_ms.saturating_sub(ms) > STALE_MS) {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut *conn)
            .await;
        }
    }
}
