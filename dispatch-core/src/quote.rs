//! A name in a message, quoted.

use core::fmt;

/// Writes a string between double quotes, with `"`, `\` and control
/// characters escaped as Rust's `{:?}` escapes them (`\"`, `\\`, `\n`,
/// `\r`, `\t`, `\0`, `\u{1b}`), so that a name taken from a request reads
/// unambiguously in an error message. Other characters are written as they
/// are: unlike `{:?}`, no Unicode table decides what is printable (the core
/// stays small where it is embedded).
pub(crate) struct Quoted<'a>(pub(crate) &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        let mut plain_from = 0;
        for (index, c) in self.0.char_indices() {
            let escape = match c {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                '\0' => "\\0",
                c if c.is_control() => "",
                _ => continue,
            };
            f.write_str(self.0.get(plain_from..index).unwrap_or_default())?;
            plain_from = index + c.len_utf8();
            if escape.is_empty() {
                write!(f, "\\u{{{:x}}}", u32::from(c))?;
            } else {
                f.write_str(escape)?;
            }
        }
        f.write_str(self.0.get(plain_from..).unwrap_or_default())?;
        f.write_str("\"")
    }
}

#[cfg(test)]
mod tests {
    use super::Quoted;
    use std::format;

    #[test]
    fn quotes_as_debug_does_for_names() {
        for name in [
            "echo",
            "",
            "a \"b\" \\ c",
            "tab\tnew\nline\r\0",
            "\u{1b}[31m\u{7f}\u{85}",
            "\u{e9}t\u{e9} \u{1f680}",
        ] {
            assert_eq!(format!("{}", Quoted(name)), format!("{name:?}"), "{name:?}");
        }
    }
}
