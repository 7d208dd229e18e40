//! What a config holds, read from its text: the rulesets, mailers, maps,
//! classes and macros the generator writes lines about.

use std::path::Path;

#[derive(Default, Debug)]
pub(super) struct CfInfo {
    pub(super) rulesets: Vec<String>,
    pub(super) mailers: Vec<String>,
    pub(super) maps: Vec<String>,
    pub(super) classes: Vec<String>,
    pub(super) macros: Vec<String>,
    pub(super) w: Vec<String>,
}

/// A macro or class name after D/C/F: `x` or `{name}`.
pub(super) fn name_after(rest: &str) -> Option<String> {
    let mut chars = rest.chars();
    match chars.next()? {
        '{' => rest[1..].find('}').map(|e| rest[1..1 + e].to_string()),
        c if c.is_ascii_graphic() => Some(c.to_string()),
        _ => None,
    }
}

pub(super) fn scan(cf: &Path) -> CfInfo {
    let bytes = std::fs::read(cf).expect("read the .cf");
    let text = String::from_utf8_lossy(&bytes);
    let mut info = CfInfo::default();
    for line in text.lines() {
        let Some(first) = line.chars().next() else {
            continue;
        };
        let rest = &line[first.len_utf8()..];
        match first {
            'S' => {
                let name: String = rest
                    .chars()
                    .take_while(|c| !c.is_whitespace() && *c != '=')
                    .collect();
                if !name.is_empty() {
                    info.rulesets.push(name);
                }
            }
            'M' => {
                if let Some(name) = rest.split(',').next() {
                    let name = name.trim();
                    if !name.is_empty() {
                        info.mailers.push(name.to_string());
                    }
                }
            }
            'K' => {
                if let Some(name) = rest.split_whitespace().next() {
                    info.maps.push(name.to_string());
                }
            }
            'C' | 'F' => {
                if let Some(n) = name_after(rest) {
                    if first == 'C' && n == "w" {
                        let words = if rest.starts_with('{') {
                            ""
                        } else {
                            &rest[1..]
                        };
                        info.w.extend(words.split_whitespace().map(String::from));
                    }
                    if !info.classes.contains(&n) {
                        info.classes.push(n);
                    }
                }
            }
            'D' => {
                if let Some(n) = name_after(rest)
                    && !info.macros.contains(&n)
                {
                    info.macros.push(n);
                }
            }
            _ => {}
        }
    }
    info
}
