//! Text that was validated once and is read as `&str` without a second
//! look, held in a reference-counted `Bytes`.

use bytes::Bytes;

/// UTF-8 text in a cheaply cloneable [`Bytes`]: validated when made, read
/// as `&str` for free.
///
/// ```
/// use wsmachine::Utf8Bytes;
/// let text = Utf8Bytes::from("héllo");
/// assert_eq!(text.as_str(), "héllo");
/// assert!(Utf8Bytes::try_from(bytes::Bytes::from_static(b"\xff")).is_err());
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Utf8Bytes(Bytes);

/// Bytes that are not UTF-8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotUtf8;

impl core::fmt::Display for NotUtf8 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("bytes are not UTF-8")
    }
}

#[cfg(feature = "std")]
impl std::error::Error for NotUtf8 {}

impl Utf8Bytes {
    /// Text from a static string, without copying.
    pub const fn from_static(text: &'static str) -> Self {
        Utf8Bytes(Bytes::from_static(text.as_bytes()))
    }

    /// Bytes the caller (the receive path) has validated as UTF-8.
    pub(crate) fn from_validated(bytes: Bytes) -> Self {
        debug_assert!(simdutf8::basic::from_utf8(&bytes).is_ok());
        Utf8Bytes(bytes)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor either takes a `str` (`from_static`,
        // `From<String>`, `From<&str>`), checks the bytes (`TryFrom<Bytes>`),
        // or is `from_validated`, which the receive path calls only on bytes
        // its UTF-8 validator accepted; the bytes are never changed after.
        // `tests/properties.rs` holds received text to `core::str::from_utf8`.
        #[allow(unsafe_code)]
        unsafe {
            core::str::from_utf8_unchecked(&self.0)
        }
    }

    /// The text's bytes.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// The text's bytes, without copying.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl TryFrom<Bytes> for Utf8Bytes {
    type Error = NotUtf8;
    fn try_from(bytes: Bytes) -> Result<Self, NotUtf8> {
        crate::utf8::validate(&bytes).map_err(|_| NotUtf8)?;
        Ok(Utf8Bytes(bytes))
    }
}

impl From<alloc::string::String> for Utf8Bytes {
    fn from(text: alloc::string::String) -> Self {
        Utf8Bytes(Bytes::from(text))
    }
}

impl From<&str> for Utf8Bytes {
    fn from(text: &str) -> Self {
        Utf8Bytes(Bytes::copy_from_slice(text.as_bytes()))
    }
}

impl From<Utf8Bytes> for Bytes {
    fn from(text: Utf8Bytes) -> Self {
        text.0
    }
}

impl core::ops::Deref for Utf8Bytes {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Utf8Bytes {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Utf8Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl core::fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self.as_str(), f)
    }
}
