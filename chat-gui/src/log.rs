//! The transcript: one [`Line`] per message or notice, drawn as selectable labels and written
//! out as plain text by "Save log…".
//!
//! Names and lines are kept as they arrived and shown (and saved) through [`visible`], so that
//! invisible and direction-changing characters show as `\u{202e}` and control characters as
//! `^[`, on the screen and in a saved file someone later prints in a terminal.

use chat_core::text::{clock, visible};
use egui::RichText;
use std::path::{Path, PathBuf};

/// How a line looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Typed by this user.
    Own,
    /// Someone else's line.
    Other,
    /// `* name does something` (`/me`).
    Action,
    /// A private line (either way).
    Private,
    /// From the server's operator.
    Admin,
    /// Joined, left, who is online, connection changes, `/help`.
    Notice,
    /// A refusal (too long, rate limited, no such user).
    Error,
}

/// One line in the list.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Server time (ms since the epoch), when there is one.
    pub ts: Option<u64>,
    /// Style.
    pub kind: Kind,
    /// Who said it (empty for notices).
    pub who: String,
    /// The text.
    pub text: String,
    /// The user's line waiting for the server (the UI's number of it), shown as pending.
    pub pending: Option<u64>,
}

impl Line {
    /// The line as one row of plain text, without the time; network text made visible.
    pub fn plain(&self) -> String {
        let (who, text) = (visible(&self.who), visible(&self.text));
        match self.kind {
            Kind::Own if self.pending.is_some() => format!("{who}: {text} (pending)"),
            Kind::Own | Kind::Other => format!("{who}: {text}"),
            Kind::Action => format!("* {who} {text}"),
            Kind::Private => format!("[private] {who}: {text}"),
            Kind::Admin => format!("[admin] {text}"),
            Kind::Notice => text.into_owned(),
            Kind::Error => format!("Not sent: {text}"),
        }
    }
}

/// The whole transcript as text, one line each, with local times.
pub fn transcript(lines: &[Line]) -> String {
    let mut out = String::new();
    for l in lines {
        if let Some(ts) = l.ts {
            out.push_str(&clock(ts));
            out.push(' ');
        }
        out.push_str(&l.plain());
        out.push('\n');
    }
    out
}

/// Where "Save log…" suggests writing: `mp-chat-log.txt` in the home directory.
pub fn default_log_path() -> PathBuf {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
    home.unwrap_or_default().join("mp-chat-log.txt")
}

/// Writes the transcript to `path` (replacing the file).
///
/// # Errors
///
/// The write error.
pub fn save(lines: &[Line], path: &Path) -> std::io::Result<()> {
    std::fs::write(path, transcript(lines))
}

/// Draws one line: time, who, text; the text wraps.
pub fn line_ui(ui: &mut egui::Ui, l: &Line) {
    let (who, text) = (visible(&l.who), visible(&l.text));
    let visuals = ui.visuals().clone();
    ui.horizontal_wrapped(|ui| {
        if let Some(ts) = l.ts {
            ui.label(RichText::new(clock(ts)).weak().monospace());
        }
        match l.kind {
            Kind::Own => {
                ui.label(RichText::new(format!("{who}:")).strong().color(visuals.hyperlink_color));
                if l.pending.is_some() {
                    ui.label(RichText::new(&*text).weak());
                    ui.label(RichText::new("(pending)").weak().italics())
                        .on_hover_text("Not yet accepted by the server");
                } else {
                    ui.label(&*text);
                }
            }
            Kind::Other => {
                ui.label(RichText::new(format!("{who}:")).strong());
                ui.label(&*text);
            }
            Kind::Action => {
                ui.label(RichText::new(format!("* {who} {text}")).italics());
            }
            Kind::Private => {
                ui.label(
                    RichText::new(format!("[private] {who}:")).strong().color(visuals.strong_text_color()),
                );
                ui.label(RichText::new(&*text).italics());
            }
            Kind::Admin => {
                ui.label(RichText::new("[admin]").strong().color(visuals.warn_fg_color));
                ui.label(RichText::new(&*text).color(visuals.warn_fg_color));
            }
            Kind::Notice => {
                ui.label(RichText::new(&*text).weak().italics());
            }
            Kind::Error => {
                ui.label(RichText::new(format!("Not sent: {text}")).color(visuals.error_fg_color));
            }
        }
    });
}
