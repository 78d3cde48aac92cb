//! Where the CPU went during a measurement window: this load generator, the server (split by the
//! kind of thread that spent it), and everything else on the machine, all from `/proc` (no
//! `unsafe`, one clock for all of them).

use std::collections::HashMap;
use std::time::Instant;

/// `/proc` reports CPU time in USER_HZ ticks, which Linux fixes at 100 per second for user space.
const TICKS_PER_SECOND: f64 = 100.0;

/// The server's threads by what they run, from their names (`/proc/<pid>/task/<tid>/comm`, at
/// most 15 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    /// Tokio's workers (`tokio-rt-worker`, older Tokio `tokio-runtime-w`): HTTP, handlers, JSON,
    /// JWT signing, the courier loop, the PostgreSQL wire protocol, and on SQLite the engine
    /// itself (statements run on the calling thread).
    Runtime,
    /// The password-hashing pool (`vestibule-hash-N`): argon2id.
    Hash,
    /// Anything else, including threads that ended during the window.
    Other,
}

impl Threads {
    pub const ALL: [Threads; 3] = [Threads::Runtime, Threads::Hash, Threads::Other];

    pub fn label(self) -> &'static str {
        match self {
            Threads::Runtime => "runtime",
            Threads::Hash => "argon2",
            Threads::Other => "other",
        }
    }

    fn of(comm: &str) -> Threads {
        if comm.starts_with("tokio-r") {
            Threads::Runtime
        } else if comm.starts_with("vestibule-hash") {
            Threads::Hash
        } else {
            Threads::Other
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug, Clone)]
pub struct Snapshot {
    at: Instant,
    /// utime + stime of this process, ticks.
    bench: u64,
    /// utime + stime of the server, ticks.
    server: u64,
    /// utime + stime of all `postgres` processes, ticks (0 unless asked for).
    database: u64,
    /// Busy ticks of the whole machine (all CPUs), and all ticks.
    machine_busy: u64,
    machine_total: u64,
    /// Context switches of all the server's threads (voluntary + involuntary).
    server_switches: u64,
    /// Minor page faults of the server (memory it touched for the first time, or again).
    server_faults: u64,
    /// Each server thread by id: its kind, utime + stime, and stime alone.
    server_threads: HashMap<u32, (Threads, u64, u64)>,
}

/// `database`: also count processes named `postgres` (the server's database, when it runs on
/// PostgreSQL on this machine) separately from "other".
pub fn snapshot(server_pid: u32, database: bool) -> Snapshot {
    let (machine_busy, machine_total) = machine_ticks().unwrap_or((0, 0));
    Snapshot {
        at: Instant::now(),
        bench: process_ticks("self").unwrap_or(0),
        server: process_ticks(&server_pid.to_string()).unwrap_or(0),
        server_faults: minor_faults(&server_pid.to_string()).unwrap_or(0),
        database: if database { postgres_ticks() } else { 0 },
        machine_busy,
        machine_total,
        server_switches: context_switches(server_pid),
        server_threads: thread_ticks(server_pid),
    }
}

/// CPU used between two snapshots, in CPU-seconds, over `wall` seconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub wall: f64,
    pub bench: f64,
    pub server: f64,
    /// PostgreSQL's processes, when the server runs on a local PostgreSQL.
    pub database: f64,
    /// Busy CPU-seconds of other processes (machine busy − bench − server − database, ≥ 0).
    pub other: f64,
    /// Idle CPU-seconds of the machine.
    pub idle: f64,
    /// Context switches of the server's threads.
    pub server_switches: u64,
    /// Minor page faults of the server.
    pub server_faults: u64,
    /// The server's CPU-seconds by kind of thread ([`Threads`] order); they add up to `server`.
    pub server_threads: [f64; 3],
    /// The part of each that was spent in the kernel (stime: system calls, waking and switching
    /// threads, I/O). Threads that ended during the window are not in it.
    pub server_threads_kernel: [f64; 3],
}

impl Usage {
    pub fn between(a: &Snapshot, b: &Snapshot) -> Usage {
        let wall = b.at.duration_since(a.at).as_secs_f64();
        let secs = |x: u64, y: u64| y.saturating_sub(x) as f64 / TICKS_PER_SECOND;
        let bench = secs(a.bench, b.bench);
        let server = secs(a.server, b.server);
        let database = secs(a.database, b.database);
        let mut server_threads = [0.0; 3];
        let mut server_threads_kernel = [0.0; 3];
        for (tid, (kind, end, end_kernel)) in &b.server_threads {
            // A thread started during the window counts from zero.
            let (begin, begin_kernel) = a
                .server_threads
                .get(tid)
                .map_or((0, 0), |(_, t, k)| (*t, *k));
            server_threads[kind.index()] += secs(begin, *end);
            server_threads_kernel[kind.index()] += secs(begin_kernel, *end_kernel);
        }
        // Threads that ended during the window are in the process's total only.
        let counted: f64 = server_threads.iter().sum();
        server_threads[Threads::Other.index()] += (server - counted).max(0.0);
        let busy = secs(a.machine_busy, b.machine_busy);
        let total = secs(a.machine_total, b.machine_total);
        Usage {
            wall,
            bench,
            server,
            database,
            other: (busy - bench - server - database).max(0.0),
            idle: (total - busy).max(0.0),
            server_switches: b.server_switches.saturating_sub(a.server_switches),
            server_faults: b.server_faults.saturating_sub(a.server_faults),
            server_threads,
            server_threads_kernel,
        }
    }

    /// CPU-seconds per wall second: how many cores' worth.
    pub fn cores(&self, cpu_seconds: f64) -> f64 {
        if self.wall > 0.0 {
            cpu_seconds / self.wall
        } else {
            0.0
        }
    }
}

/// Field `n` (1-based, as proc(5) numbers them) of `/proc/<pid>/stat`, from field 3 on.
fn stat_field(pid: &str, n: usize) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses; fields resume after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    // Field 3 (state) is the first one after the name.
    rest.split_whitespace().nth(n.checked_sub(3)?)?.parse().ok()
}

/// utime (field 14) + stime (field 15).
fn process_ticks(pid: &str) -> Option<u64> {
    Some(stat_field(pid, 14)? + stat_field(pid, 15)?)
}

/// minflt (field 10).
fn minor_faults(pid: &str) -> Option<u64> {
    stat_field(pid, 10)
}

/// utime + stime summed over every process whose name is `postgres`.
fn postgres_ticks() -> u64 {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return 0;
    };
    procs
        .filter_map(|p| p.ok())
        .filter_map(|p| p.file_name().into_string().ok())
        .filter(|name| name.bytes().all(|b| b.is_ascii_digit()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "postgres")
        })
        .filter_map(|pid| process_ticks(&pid))
        .sum()
}

/// (busy, total) ticks of all CPUs from the first line of `/proc/stat`.
fn machine_ticks() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal [guest guest_nice, already counted in user].
    let get = |i: usize| v.get(i).copied().unwrap_or(0);
    let idle = get(3) + get(4);
    let busy = get(0) + get(1) + get(2) + get(5) + get(6) + get(7);
    Some((busy, busy + idle))
}

/// Kind, utime + stime, and stime of every thread of `pid`.
fn thread_ticks(pid: u32) -> HashMap<u32, (Threads, u64, u64)> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return HashMap::new();
    };
    tasks
        .filter_map(|t| t.ok())
        .filter_map(|t| {
            let tid = t.file_name().into_string().ok()?;
            let comm = std::fs::read_to_string(t.path().join("comm")).ok()?;
            let path = format!("{pid}/task/{tid}");
            let kernel = stat_field(&path, 15)?;
            let ticks = stat_field(&path, 14)? + kernel;
            Some((tid.parse().ok()?, (Threads::of(comm.trim()), ticks, kernel)))
        })
        .collect()
}

/// Voluntary and involuntary context switches summed over every thread of `pid`.
fn context_switches(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(|t| t.ok())
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .map(|text| {
            text.lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>()
        })
        .sum()
}
