//! The README's example, kept compiling and passing.

#[test]
fn readme_socketpair_echo() -> Result<(), Box<dyn std::error::Error>> {
    ringstream::run(async {
        let (a, b) = ringstream::Stream::pair()?;
        let (_ra, wa) = a.split();
        let (mut rb, _wb) = b.split();
        wa.write(b"ping\n")?;
        assert_eq!(&rb.read_line().await?[..], b"ping\n");
        Ok(())
    })?
}
