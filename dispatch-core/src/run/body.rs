//! Step 2: the body, under the limit and through the signature's digest.

use super::Refusal;
use crate::digest::ContentDigest;
use crate::signature::VerifiedHeaders;

/// Counts a request body against its limit as it streams in and, when the
/// request's signature headers were verified, hashes it for the
/// `Content-Digest` check.
///
/// The host reads each chunk, hands it to [`BodyCheck::update`] *before*
/// keeping it (a chunk that would pass the limit is refused and need not be
/// stored), and calls [`BodyCheck::finish`] at the end of the body.
///
/// ```
/// use dispatch_core::run::{BodyCheck, Refusal};
///
/// let mut check = BodyCheck::new(8, None);
/// check.update(b"12345")?;
/// assert_eq!(check.update(b"6789"), Err(Refusal::BodyTooLarge { limit: 8 }));
/// # Ok::<(), Refusal<'static>>(())
/// ```
#[derive(Clone, Debug)]
#[must_use = "the body is not checked until `finish` succeeds"]
pub struct BodyCheck {
    limit: usize,
    received: usize,
    digest: Option<(VerifiedHeaders, ContentDigest)>,
}

impl BodyCheck {
    /// A check of a body of at most `limit` bytes, and of its digest when
    /// `verified` holds the request's verified signature headers.
    pub fn new(limit: usize, verified: Option<VerifiedHeaders>) -> Self {
        BodyCheck {
            limit,
            received: 0,
            digest: verified.map(|verified| (verified, verified.body_digest())),
        }
    }

    /// Takes the next chunk: [`Refusal::BodyTooLarge`] if the body would
    /// pass the limit with it (nothing of the chunk is then counted).
    pub fn update(&mut self, chunk: &[u8]) -> Result<(), Refusal<'static>> {
        if chunk.len() > self.limit.saturating_sub(self.received) {
            return Err(Refusal::BodyTooLarge { limit: self.limit });
        }
        self.received += chunk.len();
        if let Some((_, digest)) = self.digest.as_mut() {
            digest.update(chunk);
        }
        Ok(())
    }

    /// How many bytes were taken so far.
    pub const fn received(&self) -> usize {
        self.received
    }

    /// Ends the body: the `Content-Digest` check, when there is a signature.
    pub fn finish(self) -> Result<(), Refusal<'static>> {
        match self.digest {
            Some((verified, digest)) => verified.finish(&digest.finish()).map_err(Refusal::from),
            None => Ok(()),
        }
    }
}
