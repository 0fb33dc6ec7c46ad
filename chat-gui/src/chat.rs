//! The chat screen: status bar (Leave, Save log…, who is online), the transcript, the input box.
//!
//! The screen outlives the session: after a kick, a shutdown, a lost connection or Leave the
//! transcript stays, readable and selectable, with "Rejoin" where the input box was.

pub use crate::log::{Kind, Line};
use crate::log::{default_log_path, line_ui};
use chat_core::protocol::{Event, LeftReason};
use chat_core::text::visible;
use egui::RichText;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Below this width the user list starts folded away.
pub const NARROW: f32 = 560.0;

/// Connection status, shown at the top.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Logged in.
    Connected,
    /// Lost the server; retrying.
    Reconnecting {
        /// When the next attempt goes out (`None`: the server just stopped answering).
        next_try: Option<Instant>,
    },
    /// The session is over (why, in words); the transcript stays.
    Ended(String),
}

/// The "Save log…" row.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SaveBox {
    path: String,
    result: Option<Result<String, String>>,
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
    /// The addresses others type to join, when this window hosts the room.
    pub hosting: Option<Vec<SocketAddr>>,
    who_parts: Vec<String>,
    /// `/who` answers to print in the log (the automatic one only fills the list).
    who_wanted: usize,
    /// Lines that arrived while scrolled up.
    pub new_below: usize,
    seen_lines: usize,
    focus_input: bool,
    jump_to_bottom: bool,
    /// The user list shown or folded by hand (`None`: by the window width).
    users_open: Option<bool>,
    save: Option<SaveBox>,
    asking_leave: bool,
    /// Lines sent and not yet accepted or refused, in order.
    outgoing: Vec<Outgoing>,
    next_line: u64,
    /// Why the line put back in the input box was refused.
    pub refusal: Option<String>,
}

/// A line on its way to the server.
#[derive(Debug, Clone)]
struct Outgoing {
    line: u64,
    text: String,
    request: Option<u64>,
}

/// What the user asked for on this screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatAction {
    /// Send this line.
    Send(String),
    /// Leave the room; `end_room`: also end the room this window hosts.
    Leave {
        /// End the hosted room for everyone.
        end_room: bool,
    },
    /// Join the same room again, with the same name.
    Rejoin,
    /// Back to the connect screen.
    Close,
}

fn now_ms() -> u64 {
    chat_core::protocol::now_ms()
}

/// Whether `line` asks for the list of who is online.
fn is_who(line: &str) -> bool {
    matches!(line.trim(), "/who" | "/names")
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
            hosting: None,
            who_parts: Vec::new(),
            who_wanted: 0,
            new_below: 0,
            seen_lines: 0,
            focus_input: true,
            jump_to_bottom: false,
            users_open: None,
            save: None,
            asking_leave: false,
            outgoing: Vec::new(),
            next_line: 1,
            refusal: None,
        }
    }

    /// Whether the session behind this screen is over.
    pub fn is_ended(&self) -> bool {
        matches!(self.status, Status::Ended(_))
    }

    /// The session ended: keep the transcript, say why.
    pub fn end(&mut self, why: impl Into<String>) {
        let why = why.into();
        self.drop_outgoing();
        self.notice(why.clone());
        self.status = Status::Ended(why);
        self.asking_leave = false;
        self.users = vec![self.me.clone()];
        self.who_parts.clear();
        self.who_wanted = 0;
    }

    /// Logged in again after [`ChatAction::Rejoin`].
    pub fn rejoined(&mut self) {
        self.status = Status::Connected;
        self.notice(format!("rejoined {}", self.room));
        self.focus_input = true;
    }

    /// Adds a notice line.
    pub fn notice(&mut self, text: impl Into<String>) {
        self.lines.push(Line {
            ts: Some(now_ms()),
            kind: Kind::Notice,
            who: String::new(),
            text: text.into(),
            pending: None,
        });
    }

    fn error_line(&mut self, text: String) {
        self.lines.push(Line { ts: None, kind: Kind::Error, who: String::new(), text, pending: None });
    }

    /// The user sends `text`: returns the number the session's answers name it by. A chat line
    /// shows as the user's (the server does not echo it back), marked pending until the server
    /// accepts it; a `/who` asks for the list in the log.
    pub fn send(&mut self, text: &str) -> u64 {
        let line = self.next_line;
        self.next_line += 1;
        if is_who(text) {
            self.who_wanted += 1;
        }
        self.refusal = None;
        self.outgoing.push(Outgoing { line, text: text.to_string(), request: None });
        // A plain line, or one starting with "//" (sent from the second slash on).
        let shown = match text.strip_prefix('/') {
            None if text != "quit" => Some(text),
            Some(rest) if rest.starts_with('/') => Some(rest),
            _ => None,
        };
        if let Some(shown) = shown {
            self.lines.push(Line {
                ts: Some(now_ms()),
                kind: Kind::Own,
                who: self.me.clone(),
                text: shown.to_string(),
                pending: Some(line),
            });
        }
        line
    }

    /// The session queued line `line` as request `request` (`None`: a command without text,
    /// done).
    pub fn queued(&mut self, line: u64, request: Option<u64>) {
        let Some(i) = self.outgoing.iter().position(|o| o.line == line) else { return };
        match request {
            Some(r) => self.outgoing[i].request = Some(r),
            None => {
                self.outgoing.remove(i);
            }
        }
    }

    /// The server accepted request `request`: its line is sent.
    pub fn accepted(&mut self, request: u64) {
        let Some(i) = self.outgoing.iter().position(|o| o.request == Some(request)) else { return };
        let o = self.outgoing.remove(i);
        if let Some(l) = self.lines.iter_mut().find(|l| l.pending == Some(o.line)) {
            l.pending = None;
            l.ts = Some(now_ms());
        }
    }

    /// Line `line` was refused: it leaves the log and goes back into the input box (unless
    /// something new is being typed there), with the reason beside it.
    pub fn rejected(&mut self, line: u64, reason: String) {
        let Some(i) = self.outgoing.iter().position(|o| o.line == line) else { return };
        let o = self.outgoing.remove(i);
        self.lines.retain(|l| l.pending != Some(o.line));
        if is_who(&o.text) {
            self.who_wanted = self.who_wanted.saturating_sub(1);
        }
        if self.input.trim().is_empty() {
            self.input = o.text;
            self.refusal = Some(reason);
        } else {
            self.refusal = Some(format!("“{}”: {reason}", o.text));
        }
        self.focus_input = true;
    }

    /// Lines waiting for the server when the session ended never got there.
    fn drop_outgoing(&mut self) {
        for o in std::mem::take(&mut self.outgoing) {
            if let Some(l) = self.lines.iter_mut().find(|l| l.pending == Some(o.line)) {
                l.pending = None;
                l.kind = Kind::Error;
                l.text = format!("{} (the session ended before the server took it)", l.text);
            }
        }
    }

    /// The characters of the input box's text the server counts (as it counts them: the text
    /// of a line, an action or a private line), when it sends text.
    pub fn counted_chars(&self) -> Option<usize> {
        let t = self.input.as_str();
        let text = match t.strip_prefix('/') {
            None => t,
            Some(rest) if rest.starts_with('/') => rest,
            Some(rest) => {
                let (word, args) = rest.split_once(char::is_whitespace)?;
                match word {
                    "me" => args.trim_start(),
                    "msg" => args.trim_start().split_once(char::is_whitespace)?.1.trim_start(),
                    "quit" | "exit" => args.trim_start(),
                    _ => return None,
                }
            }
        };
        Some(text.chars().count())
    }

    /// Applies a room event: a line, and the user list.
    pub fn apply(&mut self, e: &Event) {
        let line = |ts, kind, who: &str, text: String| Line {
            ts: Some(ts),
            kind,
            who: who.to_string(),
            text,
            pending: None,
        };
        match e {
            Event::Line { ts, from, text, .. } => self.lines.push(line(*ts, Kind::Other, from, text.clone())),
            Event::Private { ts, peer, sent, text } => {
                let who =
                    if *sent { format!("{} to {peer}", self.me) } else { format!("{peer} to {}", self.me) };
                self.lines.push(line(*ts, Kind::Private, &who, text.clone()));
            }
            Event::Admin { ts, text } => self.lines.push(line(*ts, Kind::Admin, "admin", text.clone())),
            Event::Action { ts, from, text, .. } => {
                self.lines.push(line(*ts, Kind::Action, from, text.clone()))
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
                    if self.who_wanted > 0 {
                        self.who_wanted -= 1;
                        self.notice(format!("{} online: {}", all.len(), all.join(", ")));
                    }
                    self.users = all;
                }
            }
            Event::Refused { reason, request } => {
                match self.outgoing.iter().position(|o| *request != 0 && o.request == Some(*request)) {
                    Some(i) => {
                        let line = self.outgoing[i].line;
                        self.rejected(line, reason.clone());
                    }
                    None => self.error_line(reason.clone()),
                }
            }
            Event::Goodbye | Event::Kicked | Event::Shutdown => {}
        }
    }

    /// The status line, in words.
    pub fn status_text(&self, now: Instant) -> String {
        match &self.status {
            Status::Connected => format!("Connected to {} as {}", self.room, visible(&self.me)),
            Status::Reconnecting { next_try: None } => {
                format!("Reconnecting to {}: the server stopped answering", self.room)
            }
            Status::Reconnecting { next_try: Some(at) } => {
                let left = at.saturating_duration_since(now);
                if left.is_zero() {
                    format!("Reconnecting to {}: trying now…", self.room)
                } else {
                    let secs = left.as_millis().div_ceil(1000);
                    format!("Reconnecting to {}: next try in {secs} s", self.room)
                }
            }
            Status::Ended(why) => format!("Not connected: {}", visible(why)),
        }
    }

    /// Draws the screen; returns what the user asked for.
    pub fn ui(&mut self, ui: &mut egui::Ui) -> Option<ChatAction> {
        let mut action = None;
        let show_users = self.users_open.unwrap_or(ui.available_width() >= NARROW);
        egui::Panel::top("status").show(ui, |ui| self.status_bar(ui, show_users, &mut action));
        egui::Panel::bottom("input").show(ui, |ui| {
            ui.add_space(4.0);
            if self.is_ended() {
                self.ended_row(ui, &mut action);
            } else {
                self.input_row(ui, &mut action);
            }
            ui.add_space(4.0);
        });
        if show_users {
            egui::Panel::right("users").resizable(false).show(ui, |ui| self.users_panel(ui));
        }
        egui::CentralPanel::default().show(ui, |ui| self.messages(ui));
        action
    }

    fn status_bar(&mut self, ui: &mut egui::Ui, show_users: bool, action: &mut Option<ChatAction>) {
        let visuals = ui.visuals().clone();
        ui.horizontal_wrapped(|ui| {
            let dot = match &self.status {
                Status::Connected => visuals.hyperlink_color,
                Status::Reconnecting { .. } => visuals.warn_fg_color,
                Status::Ended(_) => visuals.error_fg_color,
            };
            let (rect, _) = ui.allocate_exact_size(egui::vec2(12.0, 12.0), egui::Sense::hover());
            ui.painter().circle_filled(rect.center(), 5.0, dot);
            ui.label(self.status_text(Instant::now()));
            if matches!(self.status, Status::Reconnecting { .. }) {
                ui.ctx().request_repaint_after(Duration::from_millis(250));
            }
            if !self.is_ended()
                && ui.button("Leave").on_hover_text("Leave the room (the others see you leave)").clicked()
            {
                if self.hosting.is_some() {
                    self.asking_leave = true;
                } else {
                    *action = Some(ChatAction::Leave { end_room: false });
                }
            }
            if ui.button("Save log…").on_hover_text("Write the transcript to a text file").clicked() {
                self.save = match self.save {
                    Some(_) => None,
                    None => Some(SaveBox { path: default_log_path().display().to_string(), result: None }),
                };
            }
            if ui.selectable_label(show_users, "People").on_hover_text("Show or hide who is online").clicked()
            {
                self.users_open = Some(!show_users);
            }
            crate::theme::theme_button(ui);
        });
        if let Some(addrs) = &self.hosting {
            let list = addrs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            ui.horizontal_wrapped(|ui| {
                ui.label(RichText::new(format!("hosting at {list}")).strong().color(visuals.hyperlink_color))
                    .on_hover_text("This window runs the room: others join with this address");
            });
        }
        if self.asking_leave {
            ui.horizontal_wrapped(|ui| {
                let others = self.users.len().saturating_sub(1);
                ui.label(format!(
                    "You host this room ({others} other{} in it). End it for everyone, or keep it running here?",
                    if others == 1 { "" } else { "s" }
                ));
                if ui.button("End it for everyone").clicked() {
                    *action = Some(ChatAction::Leave { end_room: true });
                    self.asking_leave = false;
                }
                if ui.button("Keep it running").clicked() {
                    *action = Some(ChatAction::Leave { end_room: false });
                    self.asking_leave = false;
                }
                if ui.button("Stay").clicked() {
                    self.asking_leave = false;
                }
            });
        }
        if self.save.is_some() {
            self.save_row(ui);
        }
    }

    fn save_row(&mut self, ui: &mut egui::Ui) {
        let Some(save) = &mut self.save else { return };
        let visuals = ui.visuals().clone();
        ui.horizontal_wrapped(|ui| {
            let label = ui.label("Save to");
            let width = (ui.available_width() - 120.0).clamp(80.0, 420.0);
            let field =
                ui.add(egui::TextEdit::singleline(&mut save.path).desired_width(width)).labelled_by(label.id);
            let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if ui.button("Save").clicked() || enter {
                let path = std::path::PathBuf::from(save.path.trim());
                save.result = Some(match crate::log::save(&self.lines, &path) {
                    Ok(()) => Ok(format!("Saved {} lines to {}", self.lines.len(), path.display())),
                    Err(e) => Err(format!("Cannot write {}: {e}", path.display())),
                });
            }
        });
        match &save.result {
            Some(Ok(done)) => {
                ui.label(done);
            }
            Some(Err(e)) => {
                ui.label(RichText::new(e).color(visuals.error_fg_color));
            }
            None => {}
        }
    }

    fn ended_row(&mut self, ui: &mut egui::Ui, action: &mut Option<ChatAction>) {
        ui.horizontal_wrapped(|ui| {
            if let Status::Ended(why) = &self.status {
                ui.label(RichText::new(&*visible(why)).color(ui.visuals().warn_fg_color));
            }
            if ui
                .button("Rejoin")
                .on_hover_text(format!("Join {} again as {}", self.room, visible(&self.me)))
                .clicked()
            {
                *action = Some(ChatAction::Rejoin);
            }
            if ui.button("Connect elsewhere").clicked() {
                *action = Some(ChatAction::Close);
            }
        });
    }

    fn input_row(&mut self, ui: &mut egui::Ui, action: &mut Option<ChatAction>) {
        let error = ui.visuals().error_fg_color;
        if let Some(why) = &self.refusal {
            ui.label(RichText::new(format!("Not sent: {}", visible(why))).color(error));
        }
        ui.horizontal(|ui| {
            let label = ui.label("Message");
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                let clicked = ui.button("Send").clicked();
                if let Some(n) = self.counted_chars() {
                    let max = chat_core::protocol::MAX_TEXT_CHARS;
                    let text = RichText::new(format!("{n}/{max}")).small();
                    ui.label(if n > max { text.color(error) } else { text.weak() })
                        .on_hover_text(format!("characters in the line; the server takes at most {max}"));
                }
                let id = egui::Id::unique("chat-message-input");
                if std::mem::take(&mut self.focus_input) {
                    // Focus (and the cursor after any text put in the box, e.g. "/msg NAME ")
                    // before the box is drawn, so that keys typed in this frame already go in.
                    ui.memory_mut(|m| m.request_focus(id));
                    let mut state = egui::TextEdit::load_state(ui.ctx(), id).unwrap_or_default();
                    let end = egui::text::CCursor::new(self.input.chars().count());
                    state.cursor.set_char_range(Some(egui::text::CCursorRange::one(end)));
                    state.store(ui.ctx(), id);
                }
                let resp = ui
                    .add(
                        egui::TextEdit::singleline(&mut self.input)
                            .id(id)
                            .desired_width(ui.available_width())
                            .hint_text("a line for everyone, /msg NAME text, /me, /who, /help"),
                    )
                    .labelled_by(label.id);
                let enter = resp.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                if (enter || clicked) && !self.input.trim().is_empty() {
                    *action = Some(ChatAction::Send(std::mem::take(&mut self.input)));
                    self.focus_input = true;
                    ui.ctx().request_repaint();
                }
            });
        });
    }

    fn users_panel(&mut self, ui: &mut egui::Ui) {
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
                    && !self.is_ended()
                {
                    self.input = format!("/msg {u} ");
                    self.focus_input = true;
                    ui.ctx().request_repaint();
                }
            }
        });
    }

    fn messages(&mut self, ui: &mut egui::Ui) {
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
        let at_bottom = out.state.clamped_offset().y + out.inner_rect.height() >= out.content_size.y - 4.0;
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
    }
}
