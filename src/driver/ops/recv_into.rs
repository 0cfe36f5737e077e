//! `IORING_OP_RECV` (a pipe: `IORING_OP_READ`) into memory its owner handed over: a
//! `BufferedProtocol`'s buffer, so the kernel writes straight into the protocol's memory.

use bytes::BytesMut;
use io_uring::{opcode, squeue, types};

use super::OpCode;

/// One receive into the spare capacity of `buffer` (after its current contents). The op
/// owns the buffer until its completion hands it back with what was received appended.
#[derive(Debug)]
pub(crate) struct RecvInto {
    fd: i32,
    buffer: BytesMut,
    /// The first spare byte of `buffer`'s allocation, and how many there are; taken once
    /// from `&mut`, so the kernel writes through a pointer that was made for writing.
    spare: *mut u8,
    room: u32,
    pipe: bool,
    rw_flags: i32,
}

impl RecvInto {
    /// `Err` gives `buffer` back when it has no spare capacity. A pipe is read (at "the current
    /// position") instead; `rw_flags` are `preadv2` flags for that read.
    pub(crate) fn new(
        fd: i32,
        mut buffer: BytesMut,
        pipe: bool,
        rw_flags: i32,
    ) -> Result<RecvInto, BytesMut> {
        let spare = buffer.spare_capacity_mut();
        if spare.is_empty() {
            return Err(buffer);
        }
        let room = u32::try_from(spare.len()).unwrap_or(u32::MAX);
        let spare = spare.as_mut_ptr().cast::<u8>();
        Ok(RecvInto {
            fd,
            buffer,
            spare,
            room,
            pipe,
            rw_flags,
        })
    }

    /// The buffer back, with the `received` bytes the completion reported appended (0 when
    /// the receive ended without data).
    pub(crate) fn into_buffer(self, received: usize) -> BytesMut {
        let mut buffer = self.buffer;
        let received = received.min(self.room as usize);
        // SAFETY: the completion says the kernel wrote `received` bytes starting at the
        // first spare byte (at most `room`, the length the SQE gave it), so the first
        // `len + received` bytes of the allocation are initialised; the allocation is the
        // one `spare` was taken from, as `buffer` was neither touched nor moved off its heap
        // memory since.
        unsafe { buffer.set_len(buffer.len() + received) };
        buffer
    }

    /// The ring failed with this op maybe still in the kernel: the buffer is leaked, never
    /// freed or reused.
    pub(crate) fn leak_buffer(&mut self) {
        std::mem::forget(std::mem::take(&mut self.buffer));
        self.room = 0;
    }
}

// SAFETY: the SQE points at `room` bytes of `buffer`'s heap allocation after its contents.
// The op owns the buffer and nothing else touches it until `into_buffer` (after the last
// completion) or `leak_buffer`; moving the op moves the `BytesMut` handle, not its memory.
unsafe impl OpCode for RecvInto {
    fn sqe(&self) -> squeue::Entry {
        if self.pipe {
            opcode::Read::new(types::Fd(self.fd), self.spare, self.room)
                .offset(u64::MAX)
                .rw_flags(self.rw_flags)
                .build()
        } else {
            opcode::Recv::new(types::Fd(self.fd), self.spare, self.room).build()
        }
    }
}
