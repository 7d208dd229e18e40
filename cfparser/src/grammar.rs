//! The pest parser generated from `sendmail.pest`, and how its errors are
//! worded for an admin.

use pest::error::{ErrorVariant, InputLocation};
use pest_derive::Parser;

#[derive(Parser)]
#[grammar = "sendmail.pest"]
pub struct CfGrammar;

/// What the admin should read for a rule the parser expected.
fn describe(expected: &Rule) -> &'static str {
    match expected {
        Rule::TAB => "a TAB (the fields of an R line are separated by TABs)",
        Rule::EQ => "`=`",
        Rule::macro_name | Rule::long_name | Rule::short_name => "a macro or class name",
        Rule::version_level => "a version number (V10)",
        Rule::vendor => "a vendor name",
        Rule::option_name => "an option name",
        Rule::long_option => "a space and an option name (`O Name=value`)",
        Rule::short_option | Rule::short_opt_char => "a one-letter option",
        Rule::option_value => "an option value",
        Rule::header_name => "a header name",
        Rule::header_cond | Rule::header_flags | Rule::header_macro => "`?flags?` or `?${macro}?`",
        Rule::prec_name => "a precedence name",
        Rule::map_name => "a map name",
        Rule::map_class => "a map class",
        Rule::entity_name => "a name",
        Rule::equate => "`field=value`",
        Rule::equate_key => "a field name",
        Rule::equate_value | Rule::value_text | Rule::quoted_seg => "a value",
        Rule::ruleset_number => "a ruleset number",
        Rule::ruleset_name => "a ruleset name",
        Rule::rule_lhs => "the left-hand side of the rule",
        Rule::rule_rhs => "the right-hand side of the rule",
        Rule::env_name => "an environment variable name",
        Rule::file_name | Rule::quoted_name => "a file name",
        Rule::class_program | Rule::class_map | Rule::class_file => "a file, |program or map",
        Rule::optional_flag => "`-o`",
        Rule::scanf_format => "a scanf format",
        Rule::template | Rule::text => "a value",
        Rule::EOI => "the end of the line",
        _ => "something else",
    }
}

/// The offset and the wording of a pest error.
pub fn explain(e: &pest::error::Error<Rule>) -> (usize, String) {
    let pos = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let message = match &e.variant {
        ErrorVariant::ParsingError {
            positives,
            negatives,
        } => {
            let mut words: Vec<&str> = positives.iter().map(describe).collect();
            words.dedup();
            let mut unique = Vec::new();
            for w in words {
                if !unique.contains(&w) && w != "something else" {
                    unique.push(w);
                }
            }
            if unique.is_empty() && !negatives.is_empty() {
                let neg: Vec<&str> = negatives.iter().map(describe).collect();
                format!("unexpected {}", neg.join(" or "))
            } else if unique.is_empty() {
                "this line does not parse".to_string()
            } else {
                format!("expected {}", join_or(&unique))
            }
        }
        ErrorVariant::CustomError { message } => message.clone(),
    };
    (pos, message)
}

fn join_or(words: &[&str]) -> String {
    match words {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}
