//! SQEs the `io-uring` crate cannot build yet.

use io_uring::{opcode, squeue, types};

/// Offset of `optlen` in `struct io_uring_sqe` (the union with `file_index` and
/// `splice_fd_in`, after `buf_index: u16` and `personality: u16` at 40 and 42).
const SQE_OPTLEN_OFFSET: usize = 44;

/// A multishot recv into buffer group `group` that stops by itself (a CQE without
/// `IORING_CQE_F_MORE`) once it has received `total` bytes, each completion bringing at most
/// `len` bytes: `IORING_OP_RECV` with `IORING_RECV_MULTISHOT`, `sqe->len` the per-completion
/// cap and `sqe->optlen` the total (Linux 6.17, "multishot receive len cap").
///
/// The last completion may overshoot `total` by less than `len`: the kernel checks the total
/// after each receive. Kernels without the total limit reject a non-zero `optlen` (it shares
/// its place with `file_index`, which recv refuses) with `EINVAL`, so an old kernel fails the
/// op instead of silently receiving without a bound.
pub(crate) fn recv_multishot_capped(
    fd: types::Fd,
    group: u16,
    len: u32,
    total: u32,
) -> squeue::Entry {
    let mut sqe = opcode::RecvMulti::new(fd, group).len(len).build();
    let base: *mut squeue::Entry = &mut sqe;
    // SAFETY: `squeue::Entry` is `#[repr(C)]` around the kernel's 64-byte `io_uring_sqe`,
    // so bytes 44..48 are its `optlen` field, inside the value we own; the write is
    // unaligned-safe and no reference to that field exists. No kernel memory is involved:
    // the entry is copied into the SQ later.
    unsafe {
        base.cast::<u8>()
            .add(SQE_OPTLEN_OFFSET)
            .cast::<u32>()
            .write_unaligned(total);
    }
    sqe
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The field written is the kernel's `optlen`: the same bytes `SetSockOpt` fills.
    #[test]
    fn optlen_lands_where_the_kernel_reads_it() {
        let reference =
            opcode::SetSockOpt::new(types::Fd(3), 0, 0, std::ptr::null(), 0xA1B2_C3D4).build();
        let ours = recv_multishot_capped(types::Fd(3), 7, 100, 0xA1B2_C3D4);
        let bytes = |e: &squeue::Entry| -> [u8; 64] {
            // SAFETY (test only): Entry is a 64-byte repr(C) struct of plain integers.
            unsafe { std::mem::transmute_copy(e) }
        };
        assert_eq!(std::mem::size_of::<squeue::Entry>(), 64);
        let (r, o) = (bytes(&reference), bytes(&ours));
        assert_eq!(r[44..48], o[44..48]);
        assert_eq!(
            u32::from_ne_bytes([o[44], o[45], o[46], o[47]]),
            0xA1B2_C3D4
        );
        // len (24..28) is the per-completion cap.
        assert_eq!(u32::from_ne_bytes([o[24], o[25], o[26], o[27]]), 100);
    }
}
