//! Puts this process (the tokio worker and everything else) on core 0 and the `redis-server`
//! processes on core 1 with `taskset`, as in the setup; where that cannot be done, says
//! why and runs unpinned.

use std::process::Command;

/// Pins this process to core 0 and the servers (pids `servers`) to core 1. Returns what was
/// done, for the table's header. Call it before the tokio runtime starts: its threads inherit
/// the mask.
pub(crate) fn pin(servers: &[u32]) -> String {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 {
        return format!("not pinned: {cores} core(s) available");
    }
    let ours = std::process::id();
    let pinned =
        taskset(ours, 0).and_then(|()| servers.iter().try_for_each(|&server| taskset(server, 1)));
    match pinned {
        Ok(()) => {
            "this process (tokio, 1 worker) on core 0, every redis-server on core 1 (taskset)"
                .into()
        }
        Err(why) => {
            // Leave nothing half-pinned.
            let all = format!("0-{}", cores - 1);
            let _ = Command::new("taskset")
                .args(["-a", "-p", "-c", &all, &ours.to_string()])
                .output();
            format!("not pinned: {why}")
        }
    }
}

fn taskset(pid: u32, core: usize) -> Result<(), String> {
    let output = Command::new("taskset")
        .args(["-a", "-p", "-c", &core.to_string(), &pid.to_string()])
        .output()
        .map_err(|e| format!("taskset: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "taskset -p -c {core} {pid}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}
