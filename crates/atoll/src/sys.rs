//! Facts about the machine that std does not expose.

use std::ffi::CString;
use std::path::Path;

/// (total bytes, bytes available to us) of the filesystem holding `path`.
pub fn disk_space(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized out-parameter.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return None;
    }
    let frsize = st.f_frsize as u64;
    Some((st.f_blocks as u64 * frsize, st.f_bavail as u64 * frsize))
}

/// CPU, memory and load figures for the system page.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub cores: usize,
    /// Busy share of all cores since the previous sample (0–100).
    pub cpu_percent: Option<f64>,
    /// This process's CPU since the previous sample, in percent of one core (can exceed 100).
    pub process_cpu_percent: Option<f64>,
    pub load: Option<[f64; 3]>,
    pub mem_total: Option<u64>,
    pub mem_available: Option<u64>,
    pub rss: Option<u64>,
}

/// (busy jiffies, total jiffies) of all CPUs, from /proc/stat.
fn cpu_jiffies() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4).unwrap_or(&0);
    Some((total - idle, total))
}

/// This process's user + system jiffies, from /proc/self/stat.
fn process_jiffies() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    // fields after the ")" of the command name; utime and stime are fields 14 and 15
    let rest = text.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// This process's CPU time (user + system), seconds.
pub fn process_cpu_seconds() -> Option<f64> {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then_some(process_jiffies()? as f64 / hz as f64)
}

fn meminfo(key: &str, text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|r| r.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

/// The previous CPU reading: (when, busy, total, process jiffies).
static LAST: std::sync::Mutex<Option<(std::time::Instant, u64, u64, u64)>> =
    std::sync::Mutex::new(None);

/// Reads the figures (blocking: on the first call it waits 200 ms to measure CPU use).
pub fn sample() -> Sample {
    let read = || {
        Some((
            std::time::Instant::now(),
            cpu_jiffies()?.0,
            cpu_jiffies()?.1,
            process_jiffies()?,
        ))
    };
    let prev = {
        let last = LAST.lock().unwrap_or_else(|e| e.into_inner());
        *last
    };
    let prev = match prev {
        Some(p) if p.0.elapsed() >= std::time::Duration::from_millis(100) => Some(p),
        _ => {
            let p = read();
            std::thread::sleep(std::time::Duration::from_millis(200));
            p
        }
    };
    let now = read();
    if let Some(n) = now {
        *LAST.lock().unwrap_or_else(|e| e.into_inner()) = Some(n);
    }
    // SAFETY: sysconf with a valid name has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
    let (cpu_percent, process_cpu_percent) = match (prev, now) {
        (Some(p), Some(n)) if n.2 > p.2 => {
            let busy = (n.1 - p.1) as f64 / (n.2 - p.2) as f64 * 100.0;
            let secs = n.0.duration_since(p.0).as_secs_f64().max(0.001);
            let proc_pct = (n.3.saturating_sub(p.3)) as f64 / hz / secs * 100.0;
            (
                Some((busy * 10.0).round() / 10.0),
                Some((proc_pct * 10.0).round() / 10.0),
            )
        }
        _ => (None, None),
    };
    let load = std::fs::read_to_string("/proc/loadavg").ok().and_then(|t| {
        let v: Vec<f64> = t
            .split_whitespace()
            .take(3)
            .filter_map(|x| x.parse().ok())
            .collect();
        (v.len() == 3).then(|| [v[0], v[1], v[2]])
    });
    let mem = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let rss = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|t| t.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * page);
    Sample {
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        cpu_percent,
        process_cpu_percent,
        load,
        mem_total: meminfo("MemTotal:", &mem),
        mem_available: meminfo("MemAvailable:", &mem),
        rss,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn disk_space_of_tmp() {
        let (total, free) = super::disk_space(&std::env::temp_dir()).unwrap();
        assert!(total > 0 && free <= total);
        assert!(super::disk_space(std::path::Path::new("/no/such/dir")).is_none());
    }

    #[test]
    fn sample_reads_proc() {
        let s = super::sample();
        assert!(s.cores >= 1);
        let cpu = s.cpu_percent.expect("cpu");
        assert!((0.0..=100.0).contains(&cpu), "{cpu}");
        assert!(s.mem_total.unwrap() >= s.mem_available.unwrap());
        assert!(s.rss.unwrap() > 1 << 20);
        assert!(s.load.is_some());
    }
}
