//! Line reading with a bound: at most `max` bytes of a line are kept, the rest of it is read
//! past in buffer-sized steps and counted, so a 600 MB line (or gigabytes of NUL bytes with no
//! line break) costs the limit, not the line.

use super::losses::ReaderCounters;
use std::io::{BufRead, ErrorKind};
use std::sync::Arc;

pub(crate) struct Lines<R> {
    reader: R,
    max: usize,
    counters: Arc<ReaderCounters>,
}

impl<R: BufRead> Lines<R> {
    pub fn new(reader: R, max: usize, counters: Arc<ReaderCounters>) -> Self {
        Lines {
            reader,
            max,
            counters,
        }
    }

    /// Reads the next line into `buf` (cleared first, without its `\n`); false at the end of
    /// the input. A cut line ends on a UTF-8 character boundary when it was valid up to there.
    pub fn next_into(&mut self, buf: &mut Vec<u8>) -> std::io::Result<bool> {
        buf.clear();
        let mut any = false;
        let mut cut = 0u64;
        loop {
            let (used, done) = {
                let avail = match self.reader.fill_buf() {
                    Ok(b) => b,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                if avail.is_empty() {
                    break;
                }
                any = true;
                let (line, used, done) = match memchr::memchr(b'\n', avail) {
                    Some(i) => (&avail[..i], i + 1, true),
                    None => (avail, avail.len(), false),
                };
                let keep = line.len().min(self.max.saturating_sub(buf.len()));
                buf.extend_from_slice(&line[..keep]);
                cut += (line.len() - keep) as u64;
                (used, done)
            };
            self.reader.consume(used);
            if done {
                break;
            }
        }
        if cut > 0 {
            // Do not leave half a character at the cut.
            if let Err(e) = std::str::from_utf8(buf)
                && e.error_len().is_none()
            {
                let end = e.valid_up_to();
                cut += (buf.len() - end) as u64;
                buf.truncate(end);
            }
            ReaderCounters::bump(&self.counters.long_lines, 1);
            ReaderCounters::bump(&self.counters.long_line_bytes, cut);
        }
        Ok(any)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn long_lines_are_cut_and_counted() {
        let mut data = b"short\n".to_vec();
        data.extend(std::iter::repeat_n(b'x', 100_000));
        data.extend_from_slice("é\nlast".as_bytes());
        let counters = Arc::new(ReaderCounters::default());
        // a small buffer: the line spans many refills
        let reader = std::io::BufReader::with_capacity(64, &data[..]);
        let mut lines = Lines::new(reader, 1000, counters.clone());
        let mut buf = Vec::new();
        let mut got = Vec::new();
        while lines.next_into(&mut buf).unwrap() {
            got.push(buf.clone());
        }
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], b"short");
        assert_eq!(got[1].len(), 1000);
        assert_eq!(got[2], b"last");
        assert_eq!(counters.long_lines.load(Ordering::Relaxed), 1);
        assert_eq!(
            counters.long_line_bytes.load(Ordering::Relaxed),
            100_000 + 2 - 1000
        );
    }

    #[test]
    fn a_cut_never_splits_a_character() {
        let data = "ééééé\n".as_bytes();
        let counters = Arc::new(ReaderCounters::default());
        let mut lines = Lines::new(data, 5, counters.clone());
        let mut buf = Vec::new();
        assert!(lines.next_into(&mut buf).unwrap());
        assert_eq!(std::str::from_utf8(&buf).unwrap(), "éé");
        assert_eq!(counters.long_line_bytes.load(Ordering::Relaxed), 6);
        assert!(!lines.next_into(&mut buf).unwrap());
    }
}
