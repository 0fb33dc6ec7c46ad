//! The chat screen: status bar with Leave, who is online, the message list, the input box.
//!
//! Names and lines are kept as they arrived and shown through [`visible`], so that invisible
//! and direction-changing characters show as `\u{202e}` and control characters as `^[`.

use chat_core::protocol::{Event, LeftReason};
use chat_core::text::{clock, visible};
use egui::{Color32, RichText};

/// How a line looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Typed by this user.
    Own,
    /// Someone else's line.
    Other,
    /// A private line (either way).
    Private,
    /// From the server's operator.
    Admin,
    /// Joined, left, who is online, connection changes.
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
}

/// Connection status, shown at the top.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Logged in.
    Connected,
    /// Lost the server; retrying.
    Reconnecting(String),
}

/// The chat screen's state.
#[derive(Debug)]
pub struct ChatView {
    /// Room address.
    pub room: String,
    /// This user.
    pub me: String,
    /// Every line so far.
    pub lines: Vec<Line>,
    /// Who is online (sorted).
    pub users: Vec<String>,
    /// The input box.
    pub input: String,
    /// Connection status.
    pub status: Status,
    who_parts: Vec<String>,
    /// Lines that arrived while scrolled up.
    pub new_below: usize,
    seen_lines: usize,
    focus_input: bool,
    jump_to_bottom: bool,
}

/// What the user asked for on this screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatAction {
    /// Send this line.
    Send(String),
    /// Leave the room.
    Leave,
}

fn now_ms() -> u64 {
    chat_core::protocol::now_ms()
}

impl ChatView {
    /// A fresh screen for `me` in `room`.
    pub fn new(room: String, me: String) -> ChatView {
        ChatView {
            room,
            users: vec![me.clone()],
            me,
            lines: Vec::new(),
            input: String::new(),
            status: Status::Connected,
            who_parts: Vec::new(),
            new_below: 0,
            seen_lines: 0,
            focus_input: true,
            jump_to_bottom: false,
        }
    }

    /// Adds a notice line.
    pub fn notice(&mut self, text: impl Into<String>) {
        self.lines.push(Line {
            ts: Some(now_ms()),
            kind: Kind::Notice,
            who: String::new(),
            text: text.into(),
        });
    }

    /// Adds the user's own line (the server does not echo it back).
    pub fn own_line(&mut self, text: &str) {
        if text.starts_with('/') || text == "quit" {
            return;
        }
        self.lines.push(Line {
            ts: Some(now_ms()),
            kind: Kind::Own,
            who: self.me.clone(),
            text: text.to_string(),
        });
    }

    /// Applies a room event: a line, and the user list.
    pub fn apply(&mut self, e: &Event) {
        let line =
            |ts, kind, who: &str, text: String| Line { ts: Some(ts), kind, who: who.to_string(), text };
        match e {
            Event::Line { ts, from, text, .. } => self.lines.push(line(*ts, Kind::Other, from, text.clone())),
            Event::Private { ts, peer, sent, text } => {
                let who =
                    if *sent { format!("{} to {peer}", self.me) } else { format!("{peer} to {}", self.me) };
                self.lines.push(line(*ts, Kind::Private, &who, text.clone()));
            }
            Event::Admin { ts, text } => self.lines.push(line(*ts, Kind::Admin, "admin", text.clone())),
            Event::Action { ts, from, text, .. } => {
                self.lines.push(line(*ts, Kind::Other, &format!("* {from}"), text.clone()))
            }
            Event::Joined { ts, name } => {
                if !self.users.contains(name) {
                    self.users.push(name.clone());
                    self.users.sort();
                }
                self.lines.push(line(*ts, Kind::Notice, "", format!("{name} joined")));
            }
            Event::Left { ts, name, reason } => {
                self.users.retain(|u| u != name);
                let why = match reason {
                    LeftReason::Quit => "",
                    LeftReason::TimedOut => " (timed out)",
                    LeftReason::Kicked => " (kicked)",
                };
                self.lines.push(line(*ts, Kind::Notice, "", format!("{name} left{why}")));
            }
            Event::Who { names, last } => {
                self.who_parts.extend(names.iter().cloned());
                if *last {
                    let mut all = std::mem::take(&mut self.who_parts);
                    all.sort();
                    self.users = all;
                }
            }
            Event::Refused { reason, .. } => {
                self.lines.push(Line {
                    ts: None,
                    kind: Kind::Error,
                    who: String::new(),
                    text: reason.clone(),
                });
            }
            Event::Goodbye | Event::Kicked | Event::Shutdown => {}
        }
    }

    /// Draws the screen; returns what the user asked for.
    pub fn ui(&mut self, ui: &mut egui::Ui) -> Option<ChatAction> {
        let mut action = None;
        egui::Panel::top("status").show(ui, |ui| {
            ui.horizontal(|ui| {
                let (dot, text) = match &self.status {
                    Status::Connected => (
                        Color32::from_rgb(60, 180, 90),
                        format!("Connected to {} as {}", self.room, visible(&self.me)),
                    ),
                    Status::Reconnecting(what) => {
                        (Color32::from_rgb(220, 170, 40), format!("Reconnecting to {}: {what}", self.room))
                    }
                };
                let (rect, _) = ui.allocate_exact_size(egui::vec2(12.0, 12.0), egui::Sense::hover());
                ui.painter().circle_filled(rect.center(), 5.0, dot);
                ui.label(text);
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    if ui.button("Leave").on_hover_text("Leave the room (the others see you leave)").clicked()
                    {
                        action = Some(ChatAction::Leave);
                    }
                });
            });
        });
        egui::Panel::right("users").resizable(false).show(ui, |ui| {
            ui.heading(format!("Online ({})", self.users.len()));
            ui.label(RichText::new("click a name to write privately").small().weak());
            ui.separator();
            egui::ScrollArea::vertical().id_salt("users_scroll").show(ui, |ui| {
                for u in self.users.clone() {
                    let shown = visible(&u);
                    let text = if u == self.me {
                        RichText::new(format!("{shown} (you)")).strong()
                    } else {
                        RichText::new(&*shown)
                    };
                    if ui
                        .selectable_label(false, text)
                        .on_hover_text(format!("Write privately to {shown}"))
                        .clicked()
                        && u != self.me
                    {
                        self.input = format!("/msg {u} ");
                        self.focus_input = true;
                    }
                }
            });
        });
        egui::Panel::bottom("input").show(ui, |ui| {
            ui.add_space(4.0);
            ui.horizontal(|ui| {
                let label = ui.label("Message");
                let box_width = (ui.available_width() - 60.0).max(100.0);
                let resp = ui
                    .add(
                        egui::TextEdit::singleline(&mut self.input)
                            .desired_width(box_width)
                            .hint_text("a line for everyone, /msg NAME text, /who"),
                    )
                    .labelled_by(label.id);
                let enter = resp.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                let clicked = ui.button("Send").clicked();
                if (enter || clicked) && !self.input.trim().is_empty() {
                    action = Some(ChatAction::Send(std::mem::take(&mut self.input)));
                    self.focus_input = true;
                }
                if self.focus_input {
                    resp.request_focus();
                    // Put the cursor after any text put in the box (e.g. "/msg NAME ").
                    if let Some(mut state) = egui::TextEdit::load_state(ui.ctx(), resp.id) {
                        let end = egui::text::CCursor::new(self.input.chars().count());
                        state.cursor.set_char_range(Some(egui::text::CCursorRange::one(end)));
                        state.store(ui.ctx(), resp.id);
                    }
                    self.focus_input = false;
                }
            });
            ui.add_space(4.0);
        });
        egui::CentralPanel::default().show(ui, |ui| {
            let jump = std::mem::take(&mut self.jump_to_bottom);
            let out = egui::ScrollArea::vertical()
                .id_salt("messages")
                .stick_to_bottom(true)
                .auto_shrink(false)
                .show(ui, |ui| {
                    for l in &self.lines {
                        line_ui(ui, l);
                    }
                    if jump {
                        ui.scroll_to_cursor(Some(egui::Align::BOTTOM));
                    }
                });
            let at_bottom =
                out.state.clamped_offset().y + out.inner_rect.height() >= out.content_size.y - 4.0;
            if at_bottom {
                self.new_below = 0;
            } else {
                self.new_below += self.lines.len().saturating_sub(self.seen_lines);
            }
            self.seen_lines = self.lines.len();
            if self.new_below > 0 {
                let marker = egui::Button::new(format!("{} new messages: show", self.new_below));
                let pos = out.inner_rect.center_bottom() - egui::vec2(90.0, 30.0);
                if ui.put(egui::Rect::from_min_size(pos, egui::vec2(180.0, 24.0)), marker).clicked() {
                    self.jump_to_bottom = true;
                    self.new_below = 0;
                    ui.ctx().request_repaint();
                }
            }
        });
        action
    }
}

fn line_ui(ui: &mut egui::Ui, l: &Line) {
    let (who, text) = (visible(&l.who), visible(&l.text));
    ui.horizontal_wrapped(|ui| {
        if let Some(ts) = l.ts {
            ui.label(RichText::new(clock(ts)).weak().monospace());
        }
        match l.kind {
            Kind::Own => {
                ui.label(RichText::new(format!("{who}:")).strong().color(Color32::from_rgb(90, 160, 240)));
                ui.label(&*text);
            }
            Kind::Other => {
                ui.label(RichText::new(format!("{who}:")).strong());
                ui.label(&*text);
            }
            Kind::Private => {
                ui.label(
                    RichText::new(format!("[private] {who}:"))
                        .strong()
                        .color(Color32::from_rgb(190, 120, 220)),
                );
                ui.label(RichText::new(&*text).italics());
            }
            Kind::Admin => {
                ui.label(RichText::new("[admin]").strong().color(Color32::from_rgb(230, 150, 40)));
                ui.label(RichText::new(&*text).color(Color32::from_rgb(230, 150, 40)));
            }
            Kind::Notice => {
                ui.label(RichText::new(&*text).weak().italics());
            }
            Kind::Error => {
                let color = ui.visuals().error_fg_color;
                ui.label(RichText::new(format!("Not sent: {text}")).color(color));
            }
        }
    });
}
