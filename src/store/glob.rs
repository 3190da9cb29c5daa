//! Valkey-style glob patterns: escaping literal text (our key prefix) and matching. `matches` is a
//! byte-for-byte port of Valkey's `stringmatchlen` (util.c, case-sensitive), so memory-only mode
//! and the in-process tier (through the exported `globMatch`) delete exactly what `SCAN MATCH`
//! deletes in Valkey — over UTF-8 bytes, never UTF-16 units. Its quirks are kept on purpose:
//! a range with start > end is swapped, `[a-]` is the range `a`..`]`, an unterminated `[` ends the
//! pattern (the class so far still counts), range bounds compare as C `char` (signed on the
//! platforms Valkey ships for), and more than 1000 nested `*` never match.

/// Escapes the glob metacharacters of a literal so SCAN MATCH treats it as text.
pub fn escape(literal: &[u8]) -> Vec<u8> {
  let mut out = Vec::with_capacity(literal.len() + 4);
  for &b in literal {
    if matches!(b, b'*' | b'?' | b'[' | b']' | b'\\') {
      out.push(b'\\');
    }
    out.push(b);
  }
  out
}

/// Whether `text` matches the Valkey glob `pattern` (`*`, `?`, `[set]`, `[^set]`, `[a-z]`, `\`).
pub fn matches(pattern: &[u8], text: &[u8]) -> bool {
  let mut skip_longer = false;
  match_impl(pattern, text, &mut skip_longer, 0)
}

/// Valkey compares range bounds as (signed) `char`: bytes ≥ 0x80 sort below ASCII there.
fn signed(b: u8) -> i16 {
  i16::from(b as i8)
}

fn match_impl(mut p: &[u8], mut s: &[u8], skip_longer: &mut bool, nesting: u32) -> bool {
  // Protection against abusive patterns, as in Valkey.
  if nesting > 1000 {
    return false;
  }
  while !p.is_empty() && !s.is_empty() {
    match p[0] {
      b'*' => {
        while p.len() > 1 && p[1] == b'*' {
          p = &p[1..];
        }
        if p.len() == 1 {
          return true;
        }
        while !s.is_empty() {
          if match_impl(&p[1..], s, skip_longer, nesting + 1) {
            return true;
          }
          if *skip_longer {
            return false;
          }
          s = &s[1..];
        }
        // No match for the rest anywhere in the rest of the text: earlier stars cannot help.
        *skip_longer = true;
        return false;
      }
      b'?' => s = &s[1..],
      b'[' => {
        p = &p[1..];
        let not = p.first() == Some(&b'^');
        if not {
          p = &p[1..];
        }
        let mut hit = false;
        loop {
          if p.len() >= 2 && p[0] == b'\\' {
            p = &p[1..];
            hit |= p[0] == s[0];
          } else if p.is_empty() {
            // Unterminated class: Valkey steps back so the outer step lands on the end.
            break;
          } else if p[0] == b']' {
            break;
          } else if p.len() >= 3 && p[1] == b'-' {
            let (mut lo, mut hi) = (signed(p[0]), signed(p[2]));
            if lo > hi {
              std::mem::swap(&mut lo, &mut hi);
            }
            let c = signed(s[0]);
            hit |= c >= lo && c <= hi;
            p = &p[2..];
          } else {
            hit |= p[0] == s[0];
          }
          p = &p[1..];
        }
        if hit == not {
          return false;
        }
        s = &s[1..];
        // `p` is at the closing `]` (skipped below) or empty (unterminated).
        if p.is_empty() {
          return s.is_empty();
        }
      }
      b'\\' if p.len() >= 2 => {
        p = &p[1..];
        if p[0] != s[0] {
          return false;
        }
        s = &s[1..];
      }
      c => {
        if c != s[0] {
          return false;
        }
        s = &s[1..];
      }
    }
    p = &p[1..];
    if s.is_empty() {
      while p.first() == Some(&b'*') {
        p = &p[1..];
      }
      break;
    }
  }
  p.is_empty() && s.is_empty()
}

#[cfg(test)]
mod tests {
  use super::*;

  /// The same vectors `__test__/glob.test.ts` checks against a live Valkey.
  #[test]
  fn agrees_with_valkey_on_the_shared_vectors() {
    let v: serde_json::Value =
      serde_json::from_str(include_str!("../../__test__/fixtures/glob-vectors.json")).unwrap();
    let texts: Vec<&str> = v["texts"]
      .as_array()
      .unwrap()
      .iter()
      .map(|t| t.as_str().unwrap())
      .collect();
    let mut wrong = Vec::new();
    for case in v["cases"].as_array().unwrap() {
      let pattern = case[0].as_str().unwrap();
      let want: Vec<&str> = case[1]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
      let got: Vec<&str> = texts
        .iter()
        .copied()
        .filter(|t| matches(pattern.as_bytes(), t.as_bytes()))
        .collect();
      if got != want {
        wrong.push(format!("{pattern:?}: valkey {want:?}, matcher {got:?}"));
      }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
  }

  #[test]
  fn matches_like_valkey() {
    assert!(matches(b"user:*", b"user:1"));
    assert!(matches(b"user:*", b"user:"));
    assert!(!matches(b"user:*", b"users:1"));
    assert!(matches(b"u?er:*:x", b"user:abc:x"));
    assert!(matches(b"*a*b*", b"xxaxxbxx"));
    assert!(!matches(b"*a*b", b"xxaxxbxx"));
    assert!(matches("caf??".as_bytes(), "café".as_bytes()));
    assert!(matches(b"[z-a]", b"m"));
    assert!(matches(b"", b""));
    assert!(!matches(b"", b"a"));
    // Valkey: only the lone `*` shortcut of KEYS/SCAN matches an empty key; our keys are never empty.
    assert!(!matches(b"**", b""));
  }

  #[test]
  fn too_many_nested_stars_never_match() {
    let pattern = "*a".repeat(1100);
    let text = "a".repeat(1100);
    assert!(!matches(pattern.as_bytes(), text.as_bytes()));
    let pattern = "*a".repeat(900);
    assert!(matches(pattern.as_bytes(), text.as_bytes()));
  }

  #[test]
  fn escaped_literals_match_only_themselves() {
    let prefix = b"app*[1]?:";
    let pat = [escape(prefix), b"*".to_vec()].concat();
    assert!(matches(&pat, b"app*[1]?:key"));
    assert!(!matches(&pat, b"appX[1]?:key"));
    assert!(!matches(&pat, b"app*1?:key"));
  }
}
