//! CPU time and memory of a target from /proc. A target is a process group
//! (Kamailio forks workers into its group; sipwake is one process), so the
//! numbers cover every worker. CPU-seconds are immune to load from other
//! processes on the machine, unlike rates.

use std::path::Path;

/// CPU time (user + system, seconds) of every process in process group `pgid`.
pub fn group_cpu_secs(pgid: u32) -> f64 {
    let tick = clock_ticks();
    group_pids(pgid)
        .iter()
        .filter_map(|pid| stat_fields(*pid))
        .map(|f| (f.utime + f.stime) as f64 / tick)
        .sum()
}

/// Proportional set size (bytes) of the group: shared pages (Kamailio's
/// shared memory) are split among the processes mapping them, so the sum
/// does not count them once per worker.
pub fn group_pss_bytes(pgid: u32) -> u64 {
    group_pids(pgid)
        .iter()
        .map(|pid| pss_bytes(Path::new(&format!("/proc/{pid}/smaps_rollup"))))
        .sum()
}

/// Number of processes in the group (0 = gone).
pub fn group_size(pgid: u32) -> usize {
    group_pids(pgid).len()
}

struct Stat {
    pgrp: u32,
    utime: u64,
    stime: u64,
}

fn group_pids(pgid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| stat_fields(*pid).is_some_and(|s| s.pgrp == pgid))
        .collect()
}

fn stat_fields(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// `/proc/PID/stat`: the command name may hold spaces and parentheses, so
/// fields are counted from after its last `)`. There, field 3 (state) is the
/// first; pgrp is field 5, utime 14, stime 15 (proc(5)).
fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(Stat {
        pgrp: f.get(2)?.parse().ok()?,
        utime: f.get(11)?.parse().ok()?,
        stime: f.get(12)?.parse().ok()?,
    })
}

fn pss_bytes(path: &Path) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| parse_pss_kb(&t))
        .map_or(0, |kb| kb * 1024)
}

fn parse_pss_kb(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no memory effects.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_command_name() {
        let s = "42 (a) b (c)) S 1 42 42 0 -1 4194560 10 0 0 0 250 50 0 0 20 0 4 0 1 2 3";
        let st = parse_stat(s).unwrap();
        assert_eq!((st.pgrp, st.utime, st.stime), (42, 250, 50));
        assert!(parse_stat("garbage").is_none());
    }

    #[test]
    fn pss_line() {
        let t = "00400000-7ff [rollup]\nRss:  2048 kB\nPss:  1536 kB\nPss_Anon: 1 kB\n";
        assert_eq!(parse_pss_kb(t), Some(1536));
        assert_eq!(parse_pss_kb("Rss: 1 kB\n"), None);
    }

    #[test]
    fn own_group_is_measured() {
        // Burn a little CPU so the reading is certainly above zero.
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_millis(50) {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        assert!(x != 1);
        // SAFETY: getpgrp has no memory effects.
        let pgid = unsafe { libc::getpgrp() } as u32;
        assert!(group_size(pgid) >= 1);
        assert!(group_cpu_secs(pgid) > 0.0);
        assert!(group_pss_bytes(pgid) > 0);
    }
}
