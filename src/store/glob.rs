//! Valkey-style glob patterns: escaping literal text (our key prefix) and matching (memory mode).

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

/// Matches `text` against a Valkey glob (`*`, `?`, `[set]`, `[^set]`, `[a-z]`, `\` escapes).
pub fn matches(pattern: &[u8], text: &[u8]) -> bool {
  let (mut p, mut t) = (0usize, 0usize);
  let mut star: Option<(usize, usize)> = None;
  while t < text.len() {
    if p < pattern.len() {
      match pattern[p] {
        b'*' => {
          star = Some((p, t));
          p += 1;
          continue;
        }
        b'?' => {
          p += 1;
          t += 1;
          continue;
        }
        b'[' => {
          if let Some((ok, next)) = class(pattern, p, text[t]) {
            if ok {
              p = next;
              t += 1;
              continue;
            }
          }
        }
        b'\\' if p + 1 < pattern.len() => {
          if pattern[p + 1] == text[t] {
            p += 2;
            t += 1;
            continue;
          }
        }
        c => {
          if c == text[t] {
            p += 1;
            t += 1;
            continue;
          }
        }
      }
    }
    match star {
      Some((sp, st)) => {
        p = sp + 1;
        t = st + 1;
        star = Some((sp, st + 1));
      }
      None => return false,
    }
  }
  pattern[p..].iter().all(|&c| c == b'*')
}

/// Evaluates a `[...]` class at `pattern[start]`; returns (matched, index after the class).
fn class(pattern: &[u8], start: usize, c: u8) -> Option<(bool, usize)> {
  let mut i = start + 1;
  let negate = pattern.get(i) == Some(&b'^');
  if negate {
    i += 1;
  }
  let mut hit = false;
  while i < pattern.len() && pattern[i] != b']' {
    if pattern[i] == b'\\' && i + 1 < pattern.len() {
      hit |= pattern[i + 1] == c;
      i += 2;
    } else if i + 2 < pattern.len() && pattern[i + 1] == b'-' && pattern[i + 2] != b']' {
      let (lo, hi) = (
        pattern[i].min(pattern[i + 2]),
        pattern[i].max(pattern[i + 2]),
      );
      hit |= (lo..=hi).contains(&c);
      i += 3;
    } else {
      hit |= pattern[i] == c;
      i += 1;
    }
  }
  if i >= pattern.len() {
    return None;
  }
  Some((hit != negate, i + 1))
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn matches_like_valkey() {
    assert!(matches(b"user:*", b"user:1"));
    assert!(matches(b"user:*", b"user:"));
    assert!(!matches(b"user:*", b"users:1"));
    assert!(matches(b"u?er:*:x", b"user:abc:x"));
    assert!(matches(b"*a*b*", b"xxaxxbxx"));
    assert!(!matches(b"*a*b", b"xxaxxbxx"));
    assert!(matches(b"k[0-9]", b"k7"));
    assert!(!matches(b"k[^0-9]", b"k7"));
    assert!(matches(b"k[abc]", b"kb"));
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
