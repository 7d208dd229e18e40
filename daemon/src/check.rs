//! `mtad --check`: load the config as the daemon would and say what is in
//! it, so an admin can try a change before reloading.

use cfparser::{Config, LoadErrors, Loaded};
use std::fmt::Write as _;

/// The summary printed on success.
pub fn summary(loaded: &Loaded) -> String {
    let c = &loaded.config;
    let mut out = String::new();
    let version = match &c.version {
        Some(v) => format!(
            "config level {}{}",
            v.level,
            v.vendor
                .as_deref()
                .map(|x| format!("/{x}"))
                .unwrap_or_default()
        ),
        None => "no V line".to_string(),
    };
    let _ = writeln!(out, "{}: loaded ({version})", c.path.display());
    let _ = writeln!(
        out,
        "  options:      {} set{}",
        c.options.len() + c.daemon_ports.len() + c.client_ports.len(),
        overridden(c)
    );
    let from_file = c.macros.values().filter(|m| m.line > 0).count();
    let _ = writeln!(
        out,
        "  macros:       {} defined ({from_file} by D lines)",
        c.macros.len()
    );
    let classes: Vec<String> = c
        .classes
        .iter()
        .map(|(name, class)| format!("{name}={}", class.len()))
        .collect();
    let _ = writeln!(out, "  classes:      {}{}", c.classes.len(), list(&classes));
    let mailers: Vec<String> = c.mailers.iter().map(|m| m.name.clone()).collect();
    let _ = writeln!(out, "  mailers:      {}{}", c.mailers.len(), list(&mailers));
    let _ = writeln!(
        out,
        "  rulesets:     {} with {} rules",
        c.rulesets.len(),
        c.rule_count()
    );
    let maps: Vec<String> = c
        .maps
        .values()
        .map(|m| format!("{}:{}", m.name, m.class))
        .collect();
    let _ = writeln!(out, "  maps:         {}{}", c.maps.len(), list(&maps));
    let listeners: Vec<String> = c
        .daemon_ports
        .iter()
        .map(|p| {
            format!(
                "{} {}:{}",
                p.name().unwrap_or("Daemon"),
                p.get("Addr").unwrap_or("*"),
                p.get("Port").unwrap_or("smtp")
            )
        })
        .collect();
    let _ = writeln!(
        out,
        "  listeners:    {}{}",
        listeners.len(),
        list(&listeners)
    );
    let _ = writeln!(
        out,
        "  headers:      {}, precedences: {}, trusted users: {}, queue groups: {}, milters: {}",
        c.headers.len(),
        c.precedences.len(),
        c.class("t").map_or(0, |t| t.len()),
        c.queue_groups.len(),
        c.milters.len()
    );
    let _ = write!(out, "  warnings:     {}", loaded.warnings.len());
    out
}

fn overridden(c: &Config) -> String {
    let n = c.overridden.len();
    if n == 0 {
        String::new()
    } else {
        format!(" ({n} from -O)")
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        String::new()
    } else {
        format!(" ({})", items.join(", "))
    }
}

/// The report printed when the config does not load.
pub fn failure(errors: &LoadErrors) -> String {
    let n = errors.errors().count();
    format!(
        "{errors}\n{n} error{}: the config was not loaded",
        if n == 1 { "" } else { "s" }
    )
}
