//! The per-user environment file, `~/.config/claudine/env`: lines
//! `KEY=VALUE` as systemd's `EnvironmentFile=` reads them, for credentials
//! such as `ANTHROPIC_API_KEY` or `CLAUDE_CODE_OAUTH_TOKEN`.
//!
//! Pure: the supervisor reads the file as the user and hands the bytes here.
//! Errors name the line number and the key, never a value: the file holds
//! secrets and the error ends up in the task's log and reason.
//!
//! Accepted: blank lines, comments (`#` or `;` first), an optional `export `
//! before the key, a value bare (surrounding blanks trimmed), in single
//! quotes (taken as is) or in double quotes (`\"`, `\\`, `\n`, `\t` and `\$`
//! unescaped). Keys are shell names (`[A-Za-z_][A-Za-z0-9_]*`).

/// Largest file read, in bytes.
pub const MAX_ENV_FILE_BYTES: usize = 64 << 10;
/// Most variables in one file.
pub const MAX_ENV_FILE_ENTRIES: usize = 256;

/// The variables of `content`, in file order (a later line for the same key
/// replaces the earlier one, as in systemd). Keys in `reserved` are refused.
pub fn parse(content: &[u8], reserved: &[&str]) -> Result<Vec<(String, String)>, String> {
    let text = std::str::from_utf8(content).map_err(|e| {
        let line = content[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        format!("line {line}: not UTF-8")
    })?;
    let mut out: Vec<(String, String)> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let n = n + 1;
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("line {n}: no '=' (expected KEY=VALUE)"));
        };
        let key = key.trim_end();
        if !is_name(key) {
            return Err(format!("line {n}: invalid variable name {key:?}"));
        }
        if reserved.contains(&key) {
            return Err(format!("line {n}: {key} is reserved and cannot be set"));
        }
        let value = unquote(value.trim()).map_err(|e| format!("line {n}: {key}: {e}"))?;
        if value.contains('\0') {
            return Err(format!("line {n}: {key}: the value contains a NUL byte"));
        }
        out.retain(|(k, _)| k != key);
        if out.len() >= MAX_ENV_FILE_ENTRIES {
            return Err(format!(
                "more than {MAX_ENV_FILE_ENTRIES} variables (line {n})"
            ));
        }
        out.push((key.to_owned(), value));
    }
    Ok(out)
}

fn is_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c == b'_' || c.is_ascii_alphabetic())
        && b.all(|c| c == b'_' || c.is_ascii_alphanumeric())
}

fn unquote(v: &str) -> Result<String, &'static str> {
    if let Some(rest) = v.strip_prefix('\'') {
        return rest
            .strip_suffix('\'')
            .map(str::to_owned)
            .ok_or("unterminated single quote");
    }
    let Some(rest) = v.strip_prefix('"') else {
        return Ok(v.to_owned());
    };
    let mut out = String::with_capacity(rest.len());
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                return if chars.as_str().trim().is_empty() {
                    Ok(out)
                } else {
                    Err("text after the closing double quote")
                };
            }
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(c @ ('"' | '\\' | '$' | '`')) => out.push(c),
                Some(c) => {
                    out.push('\\');
                    out.push(c);
                }
                None => return Err("unterminated double quote"),
            },
            c => out.push(c),
        }
    }
    Err("unterminated double quote")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Vec<(String, String)> {
        parse(s.as_bytes(), &["NOTIFY_SOCKET"]).unwrap()
    }

    fn kv(k: &str, v: &str) -> (String, String) {
        (k.to_owned(), v.to_owned())
    }

    #[test]
    fn systemd_style_lines() {
        let got = ok("# credentials\n\nANTHROPIC_API_KEY=sk-ant-123\n; old\n\
                      export BASE = http://127.0.0.1:9/ \n\
                      Q='a b # c'\nD=\"x \\\"y\\\" \\n\"\nANTHROPIC_API_KEY=sk-ant-456\nE=\n");
        assert_eq!(
            got,
            vec![
                kv("BASE", "http://127.0.0.1:9/"),
                kv("Q", "a b # c"),
                kv("D", "x \"y\" \n"),
                kv("ANTHROPIC_API_KEY", "sk-ant-456"),
                kv("E", ""),
            ]
        );
    }

    #[test]
    fn errors_name_the_line_and_key_never_the_value() {
        let e = parse(b"A=1\nsecret-value-without-equals\n", &[]).unwrap_err();
        assert_eq!(e, "line 2: no '=' (expected KEY=VALUE)");
        assert!(!e.contains("secret"));
        let e = parse(b"KEY=\"sk-ant-secret\n", &[]).unwrap_err();
        assert_eq!(e, "line 1: KEY: unterminated double quote");
        assert_eq!(
            parse(b"1X=y", &[]).unwrap_err(),
            "line 1: invalid variable name \"1X\""
        );
        assert_eq!(
            parse(b"NOTIFY_SOCKET=/x", &["NOTIFY_SOCKET"]).unwrap_err(),
            "line 1: NOTIFY_SOCKET is reserved and cannot be set"
        );
        assert_eq!(
            parse(b"A=1\nB=\xff\n", &[]).unwrap_err(),
            "line 2: not UTF-8"
        );
        assert!(parse(b"A='x", &[]).unwrap_err().contains("single quote"));
    }

    #[test]
    fn entries_are_bounded() {
        let many: String = (0..=MAX_ENV_FILE_ENTRIES)
            .map(|i| format!("K{i}=v\n"))
            .collect();
        assert!(parse(many.as_bytes(), &[])
            .unwrap_err()
            .contains("more than 256"));
    }
}
