//! Key templates: `"ai_analysis:{ticker}:{kind}"` parsed into literal text and placeholders.
//!
//! Literal text may hold only characters that never need escaping in a Redis key or glob, so the
//! runtime can write it as is. Two placeholders must be separated by a `:`; the runtime escapes
//! `:` inside argument values, so distinct values can never render the same key.

use syn::LitStr;

/// One piece of a parsed template.
pub(crate) enum Piece {
    Text(String),
    Arg(Placeholder),
}

/// `{root}` or `{root.field.0}`.
pub(crate) struct Placeholder {
    /// The argument, without `r#`: `{r#type}` and `{type}` both name the argument `r#type`.
    pub root: String,
    pub fields: Vec<Field>,
    /// `{currency:lower}`: the value is normalised before it is written into the key.
    pub normaliser: Option<Normaliser>,
    /// The placeholder as written, for messages.
    source: String,
}

/// One field access of a placeholder.
pub(crate) enum Field {
    /// `{pair.0}`.
    Index(u32),
    /// `{user.id}`, `{event.type}` or `{event.r#type}`: the name without `r#`.
    Name(String),
}

/// A normaliser after `:` in a placeholder, applied to the argument's text before it is
/// escaped: `{currency:lower}` makes `EUR` and `eur` one entry.
#[derive(Clone, Copy)]
pub(crate) enum Normaliser {
    Lower,
    Upper,
    Trim,
}

impl Normaliser {
    const ALL: &'static str = "`lower`, `upper` or `trim`";

    fn parse(name: &str) -> Option<Self> {
        match name {
            "lower" => Some(Self::Lower),
            "upper" => Some(Self::Upper),
            "trim" => Some(Self::Trim),
            _ => None,
        }
    }

    /// The runtime function that applies it (`__private::normalise::<name>`).
    pub(crate) fn function(self) -> &'static str {
        match self {
            Self::Lower => "lower",
            Self::Upper => "upper",
            Self::Trim => "trim",
        }
    }
}

impl Placeholder {
    pub(crate) fn display(&self) -> String {
        self.source.clone()
    }
}

/// A parsed key template. Every error points at its string literal: a span inside a literal is
/// not available to procedural macros on stable Rust.
pub(crate) struct Template {
    pub pieces: Vec<Piece>,
}

const ALLOWED: &str = "letters, digits and `_ - . : /`";

fn allowed_text(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/')
}

pub(crate) fn parse(lit: &LitStr) -> syn::Result<Template> {
    let span = lit.span();
    let error = |message: String| syn::Error::new(span, message);
    let source = lit.value();
    if source.is_empty() {
        return Err(error(
            "the key template is empty: write e.g. `key = \"quote:{ticker}\"`, or leave `key` out to derive it from the function and its arguments".into(),
        ));
    }
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = source.chars();
    while let Some(c) = chars.next() {
        match c {
            '{' => {
                let mut inner = String::new();
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == '}' {
                        closed = true;
                        break;
                    }
                    inner.push(c);
                }
                if !closed {
                    let example = if is_ident(&inner) { inner.as_str() } else { "argument" };
                    return Err(error(format!(
                        "unclosed `{{` in key template: close the placeholder, e.g. `{{{example}}}`"
                    )));
                }
                let placeholder = parse_placeholder(&inner).map_err(error)?;
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                if let Some(Piece::Arg(previous)) = pieces.last() {
                    return Err(error(format!(
                        "placeholders `{{{}}}` and `{{{}}}` must be separated by `:`, so that distinct argument values cannot render the same key",
                        previous.display(),
                        placeholder.display()
                    )));
                }
                if let (Some(Piece::Text(between)), Some(Piece::Arg(previous))) =
                    (pieces.last(), pieces.len().checked_sub(2).map(|i| &pieces[i]))
                {
                    if !between.contains(':') {
                        return Err(error(format!(
                            "placeholders `{{{}}}` and `{{{}}}` must be separated by `:`, so that distinct argument values cannot render the same key",
                            previous.display(),
                            placeholder.display()
                        )));
                    }
                }
                pieces.push(Piece::Arg(placeholder));
            }
            '}' => {
                return Err(error(
                    "unmatched `}` in key template: placeholders are written `{argument}`".into(),
                ))
            }
            c if allowed_text(c) => text.push(c),
            c => {
                return Err(error(format!(
                    "character {c:?} is not allowed in the text of a key template: use {ALLOWED}; argument values in `{{…}}` may contain anything"
                )))
            }
        }
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(Template { pieces })
}

fn parse_placeholder(inner: &str) -> Result<Placeholder, String> {
    if inner.trim().is_empty() {
        return Err(
            "empty placeholder `{}` in key template: name an argument, e.g. `{ticker}`".into(),
        );
    }
    if inner.starts_with('{') {
        return Err(format!(
            "`{{{{` in a key template: braces have no escape; `{{…}}` always names an argument, and the text may hold only {ALLOWED}"
        ));
    }
    let (path, normaliser) = match inner.split_once(':') {
        Some((path, name)) => match Normaliser::parse(name) {
            Some(normaliser) => (path, Some(normaliser)),
            None => {
                return Err(format!(
                    "`{{{inner}}}`: `{name}` is not a normaliser; write {} after the `:`, e.g. `{{{path}:lower}}`",
                    Normaliser::ALL
                ))
            }
        },
        None => (inner, None),
    };
    let mut parts = path.split('.');
    let root = parts.next().unwrap_or_default();
    let root = match name(root) {
        Some(root) if root != "_" => root,
        _ => {
            return Err(format!(
                "`{{{inner}}}` is not a placeholder: write an argument name, optionally followed by fields, e.g. `{{user.id}}`"
            ))
        }
    };
    let mut fields = Vec::new();
    for field in parts {
        fields.push(parse_field(inner, field)?);
    }
    Ok(Placeholder {
        root: root.to_owned(),
        fields,
        normaliser,
        source: inner.to_owned(),
    })
}

fn parse_field(inner: &str, field: &str) -> Result<Field, String> {
    if field.is_empty() {
        return Err(format!(
            "`{{{inner}}}` has an empty field name: write `{{argument.field}}`, e.g. `{{user.id}}` or `{{pair.0}}`"
        ));
    }
    if field.bytes().all(|b| b.is_ascii_digit()) {
        return match field.parse::<u32>() {
            Ok(index) if index.to_string() == field => Ok(Field::Index(index)),
            Ok(_) => Err(format!(
                "`{{{inner}}}`: `{field}` is not a tuple field; write the index without leading zeros"
            )),
            Err(_) => Err(format!(
                "`{{{inner}}}`: `{field}` is not a tuple field; an index is at most {}",
                u32::MAX
            )),
        };
    }
    match name(field) {
        Some(name) if !UNRAWABLE.contains(&name) => Ok(Field::Name(name.to_owned())),
        _ => Err(format!(
            "`{{{inner}}}` is not a placeholder: `{field}` is not a field name"
        )),
    }
}

/// `text` as an identifier without its `r#`, if it is one: Unicode XID, as Rust reads them.
fn name(text: &str) -> Option<&str> {
    let (raw, name) = match text.strip_prefix("r#") {
        Some(name) => (true, name),
        None => (false, text),
    };
    let mut chars = name.chars();
    let valid = matches!(chars.next(), Some(c) if c == '_' || unicode_ident::is_xid_start(c))
        && chars.all(unicode_ident::is_xid_continue);
    (valid && !(raw && UNRAWABLE.contains(&name))).then_some(name)
}

fn is_ident(text: &str) -> bool {
    name(text).is_some()
}

/// Keywords that cannot be raw identifiers, so they cannot name an argument or a field.
const UNRAWABLE: &[&str] = &["_", "crate", "self", "super", "Self"];

/// Every keyword of every edition, strict, reserved and weak: a field or argument named so is
/// written `r#name` in the expansion (harmless where the name is not a keyword).
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "do", "dyn",
    "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let",
    "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref", "return",
    "static", "struct", "trait", "true", "try", "type", "typeof", "union", "unsafe", "unsized",
    "use", "virtual", "where", "while", "yield",
];

/// The identifier for `name` (without `r#`), raw when it is a keyword.
pub(crate) fn ident(name: &str, span: proc_macro2::Span) -> syn::Ident {
    if KEYWORDS.contains(&name) {
        syn::Ident::new_raw(name, span)
    } else {
        syn::Ident::new(name, span)
    }
}

/// A parsed tag template: `"ticker:{ticker}"` is the name `ticker` and one value.
pub(crate) struct TagTemplate {
    pub name: String,
    pub values: Vec<Placeholder>,
}

/// Parses `name` or `name:{arg}` (more values: `name:{a}:{b}`), the shape `Tag::new(name)
/// .with(a).with(b)` renders, so that a tag built at run time matches the one declared here.
pub(crate) fn parse_tag(lit: &LitStr) -> syn::Result<TagTemplate> {
    let shape = "a tag is a name, optionally followed by `:{argument}` values: `\"market\"` or `\"ticker:{ticker}\"`";
    let error = |message: String| syn::Error::new(lit.span(), message);
    let template = parse(lit)?;
    let mut pieces = template.pieces.into_iter();
    let name = match pieces.next() {
        Some(Piece::Text(text)) => text,
        _ => {
            return Err(error(format!(
                "{shape}; this one does not start with a name"
            )))
        }
    };
    let (name, expects_value) = match name.strip_suffix(':') {
        Some(name) => (name.to_owned(), true),
        None => (name, false),
    };
    if name.is_empty() || name.contains(':') {
        return Err(error(format!(
            "`{name}` is not a tag name: {shape}; the name holds no `:`"
        )));
    }
    let mut values = Vec::new();
    let mut expects_value = expects_value;
    for piece in pieces {
        match (piece, expects_value) {
            (Piece::Arg(placeholder), true) => {
                values.push(placeholder);
                expects_value = false;
            }
            (Piece::Text(text), false) if text == ":" => expects_value = true,
            _ => return Err(error(shape.to_owned())),
        }
    }
    if expects_value {
        return Err(error(format!("{shape}; this one ends with `:`")));
    }
    Ok(TagTemplate { name, values })
}
