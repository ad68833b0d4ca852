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

#[cfg(test)]
mod tests {
    #[test]
    fn disk_space_of_tmp() {
        let (total, free) = super::disk_space(&std::env::temp_dir()).unwrap();
        assert!(total > 0 && free <= total);
        assert!(super::disk_space(std::path::Path::new("/no/such/dir")).is_none());
    }
}
