//! CPU time and memory of processes from `/proc`: the operator child, and the control plane's
//! etcd and kube-apiserver (found by their data directory on the command line).

use std::path::Path;
use std::time::Duration;

/// A snapshot of one process.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    /// User + system CPU time so far.
    pub cpu: Duration,
    /// Resident set size now, bytes.
    pub rss: u64,
    /// Peak resident set size (VmHWM) since start or the last [`reset_peak`], bytes.
    pub peak: u64,
}

/// Reads `/proc/<pid>/{stat,status}`; `None` when the process is gone.
pub fn sample(pid: u32) -> Option<Sample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    Some(Sample {
        cpu: Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64),
        rss: kib("VmRSS:") * 1024,
        peak: kib("VmHWM:") * 1024,
    })
}

/// Resets VmHWM to the current RSS (`echo 5 > /proc/<pid>/clear_refs`).
pub fn reset_peak(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

fn clock_ticks() -> u64 {
    #[allow(unsafe_code)]
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as u64 } else { 100 }
}

/// Pids of processes whose command line mentions `needle` (e.g. the control plane's directory),
/// with the executable's file name.
pub fn find(needle: &Path) -> Vec<(String, u32)> {
    let needle = needle.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.iter().skip(1).any(|a| a.contains(&needle)) {
            let name = args
                .first()
                .and_then(|a| Path::new(a).file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            found.push((name, pid));
        }
    }
    found.sort();
    found
}

/// CPU time of this process (the benchmark client).
pub fn own() -> Sample {
    sample(std::process::id()).unwrap_or_default()
}
