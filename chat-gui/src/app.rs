//! The app: which screen shows, the session, the hosted room, persistence, the window title.

use crate::args::AutoJoin;
use crate::chat::{ChatAction, ChatView, Status};
use crate::connect::{ConnectAction, ConnectForm, Field};
use crate::host::{self, HostedRoom};
use crate::session::{Session, Update};
use chat_core::client::{ClientEvent, CloseReason};
use chat_core::protocol::Event;
use chat_core::server::Config;
use egui::RichText;
use std::net::SocketAddr;
use std::time::Instant;

const STORAGE_KEY: &str = "connect_form";

/// The desktop chat app.
pub struct ChatApp {
    /// The connect form (kept across sessions, and saved between runs).
    pub form: ConnectForm,
    /// The chat screen: while in a room, and after the session ended until the user goes back
    /// to the connect screen (the transcript stays).
    pub chat: Option<ChatView>,
    /// Shown once on the connect screen when no CJK font was found (until dismissed).
    pub font_note: Option<String>,
    session: Option<Session>,
    hosted: Option<HostedRoom>,
    /// End the hosted room once this user's goodbye is through.
    end_hosted_on_close: bool,
    connecting_to: Option<SocketAddr>,
    unread: usize,
    title: String,
    ctx: egui::Context,
}

impl std::fmt::Debug for ChatApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatApp").field("form", &self.form).field("in_room", &self.in_room()).finish()
    }
}

impl ChatApp {
    /// The app, with the last address and name restored (eframe persistence) and a CJK font
    /// added when this machine has one.
    pub fn new(cc: &eframe::CreationContext<'_>, auto: AutoJoin) -> ChatApp {
        let font_note = crate::fonts::install_cjk_fallback(&cc.egui_ctx);
        let mut form: ConnectForm =
            cc.storage.and_then(|s| eframe::get_value(s, STORAGE_KEY)).unwrap_or_default();
        if form.address.is_empty() {
            form.address = ConnectForm::default().address;
        }
        let auto_join = auto.server.is_some() || auto.name.is_some();
        if let Some(s) = auto.server {
            form.address = s;
        }
        if let Some(n) = auto.name {
            form.name = n;
        }
        let mut app = ChatApp {
            form,
            chat: None,
            font_note,
            session: None,
            hosted: None,
            end_hosted_on_close: false,
            connecting_to: None,
            unread: 0,
            title: String::new(),
            ctx: cc.egui_ctx.clone(),
        };
        if auto_join && !app.form.name.is_empty() {
            app.join();
        }
        app
    }

    /// Whether a session is live in a room (the chat screen may also show an ended session's
    /// transcript).
    pub fn in_room(&self) -> bool {
        self.chat.as_ref().is_some_and(|c| !c.is_ended())
    }

    /// Whether this window runs a room.
    pub fn is_hosting(&self) -> bool {
        self.hosted.is_some()
    }

    fn parse_address(&mut self) -> Option<SocketAddr> {
        match self.form.address.trim().parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.form.address_error =
                    Some(format!("“{}” is not an address like 127.0.0.1:8888", self.form.address.trim()));
                self.form.focus = Some(Field::Address);
                None
            }
        }
    }

    /// The "Join" button.
    pub fn join(&mut self) {
        self.form.clear_errors();
        let addr = self.parse_address();
        if let Err(e) = chat_core::names::check_name(&self.form.name) {
            self.form.name_error = Some(format!("This name cannot be used: {e}."));
            self.form.focus = Some(Field::Name);
        }
        let Some(addr) = addr else { return };
        if self.form.name_error.is_some() {
            return;
        }
        // A new room: the transcript of the last one goes.
        self.chat = None;
        let name = self.form.name.clone();
        self.start_session(host::join_address(addr), &name);
    }

    fn start_session(&mut self, addr: SocketAddr, name: &str) {
        let ctx = self.ctx.clone();
        match Session::start(addr, name, move || ctx.request_repaint()) {
            Ok(s) => {
                self.session = Some(s);
                self.connecting_to = Some(addr);
                self.form.busy = self.chat.is_none();
            }
            Err(e) => match &mut self.chat {
                Some(c) => c.end(format!("Cannot connect: {e}")),
                None => self.form.address_error = Some(format!("Cannot connect: {e}")),
            },
        }
    }

    /// The "Rejoin" button: the same room, the same name, the transcript kept.
    pub fn rejoin(&mut self) {
        let Some(c) = &mut self.chat else { return };
        let (addr, name) = (self.connecting_to, c.me.clone());
        let Some(addr) = addr.or_else(|| c.room.parse().ok()) else { return };
        c.status = Status::Reconnecting { next_try: Some(Instant::now()) };
        c.notice(format!("joining {} again…", c.room));
        self.start_session(addr, &name);
    }

    /// The "Host a room here" button.
    pub fn host(&mut self) {
        self.form.clear_errors();
        let Some(typed) = self.parse_address() else { return };
        let bind = host::bind_address(typed);
        if self.hosted.as_ref().is_none_or(|h| h.addr() != bind) {
            self.hosted = None;
            match HostedRoom::start(bind, Config::default()) {
                Ok(h) => self.hosted = Some(h),
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    // A room already runs there: join it.
                }
                Err(e) => {
                    self.form.address_error = Some(format!("Cannot host a room at {bind}: {e}"));
                    self.form.focus = Some(Field::Address);
                    return;
                }
            }
        }
        if let Some(h) = &self.hosted {
            self.form.address = host::join_address(h.addr()).to_string();
        }
        self.join();
    }

    /// Ends the room this window hosts (its users are told the server shut down).
    pub fn end_hosted_room(&mut self) {
        self.hosted = None;
        self.end_hosted_on_close = false;
        if let Some(c) = &mut self.chat {
            c.hosting = None;
        }
    }

    fn leave(&mut self, end_room: bool) {
        self.end_hosted_on_close = end_room;
        match &self.session {
            Some(s) => s.leave(),
            None if end_room => self.end_hosted_room(),
            None => {}
        }
    }

    fn hosting_addresses(&self) -> Option<Vec<SocketAddr>> {
        self.hosted.as_ref().map(|h| host::addresses_for_others(h.addr()))
    }

    /// Handles what the session reported.
    pub fn pump_events(&mut self) {
        let Some(session) = &self.session else { return };
        for update in session.events() {
            let e = match update {
                Update::Event(e) => e,
                Update::Queued { line, request } => {
                    if let Some(c) = &mut self.chat {
                        c.queued(line, request);
                    }
                    continue;
                }
                Update::Rejected { line, reason } => {
                    if let Some(c) = &mut self.chat {
                        c.rejected(line, reason);
                    }
                    continue;
                }
            };
            match e {
                ClientEvent::Connected => {
                    let hosting = self.hosting_addresses();
                    match &mut self.chat {
                        Some(c) => c.rejoined(),
                        None => {
                            let room = self.connecting_to.map(|a| a.to_string()).unwrap_or_default();
                            self.chat = Some(ChatView::new(room, self.form.name.clone()));
                        }
                    }
                    if let Some(c) = &mut self.chat {
                        c.hosting = hosting;
                    }
                    self.form.busy = false;
                    if let Some(s) = &self.session {
                        s.send_line(0, "/who");
                    }
                }
                ClientEvent::Reconnecting { retry_in } => {
                    if let Some(c) = &mut self.chat {
                        let next_try = (!retry_in.is_zero()).then(|| Instant::now() + retry_in);
                        c.status = Status::Reconnecting { next_try };
                    }
                }
                ClientEvent::Notice(text) => {
                    if let Some(c) = &mut self.chat {
                        c.notice(text);
                    }
                }
                ClientEvent::AddressChanged => {
                    if let Some(c) = &mut self.chat {
                        c.notice("your network address changed; still connected");
                    }
                }
                ClientEvent::Reconnected => {
                    if let Some(c) = &mut self.chat {
                        c.status = Status::Connected;
                        c.notice("reconnected");
                    }
                    if let Some(s) = &self.session {
                        s.send_line(0, "/who");
                    }
                }
                ClientEvent::Room(ev) => {
                    if let Some(c) = &mut self.chat {
                        // The answer to the automatic /who only fills the list.
                        if !matches!(ev, Event::Who { .. }) {
                            self.unread += 1;
                        }
                        c.apply(&ev);
                    } else if let Event::Refused { reason, .. } = ev {
                        self.form.notice = Some(reason);
                    }
                }
                ClientEvent::Accepted(request) => {
                    if let Some(c) = &mut self.chat {
                        c.accepted(request);
                    }
                }
                ClientEvent::Closed(why) => self.closed(why),
            }
        }
    }

    fn closed(&mut self, why: CloseReason) {
        self.form.busy = false;
        self.session = None;
        if self.end_hosted_on_close {
            self.end_hosted_room();
        }
        let hosting = self.hosting_addresses();
        let Some(c) = &mut self.chat else {
            // The first login failed: say so next to the field it is about.
            match why {
                CloseReason::Refused(r) => {
                    self.form.name_error = Some(format!("Refused: {r}."));
                    self.form.focus = Some(Field::Name);
                }
                CloseReason::Unreachable => {
                    let addr = self.form.address.trim().to_string();
                    self.form.address_error = Some(format!("No chat server answers at {addr}."));
                    self.form.focus = Some(Field::Address);
                }
                _ => {}
            }
            return;
        };
        c.hosting = hosting;
        let why = match why {
            CloseReason::Goodbye | CloseReason::QuitUnanswered if c.hosting.is_some() => {
                "You left the room; it keeps running in this window.".to_string()
            }
            CloseReason::Goodbye | CloseReason::QuitUnanswered => "You left the room.".to_string(),
            CloseReason::Kicked => "You were removed by the operator.".to_string(),
            CloseReason::Shutdown => "The server shut down.".to_string(),
            CloseReason::Unreachable => format!("No chat server answers at {}.", c.room),
            CloseReason::Refused(r) => format!("Refused: {r}."),
        };
        c.end(why);
    }

    fn update_title(&mut self, ctx: &egui::Context) {
        let focused = ctx.input(|i| i.viewport().focused.unwrap_or(true));
        if focused {
            self.unread = 0;
        }
        let title = match &self.chat {
            Some(c) => {
                let state = match &c.status {
                    Status::Connected => "",
                    Status::Reconnecting { .. } => " (reconnecting)",
                    Status::Ended(_) => " (disconnected)",
                };
                let unread =
                    if self.unread > 0 { format!(" ({} unread)", self.unread) } else { String::new() };
                format!("mp chat — {}{state}{unread}", c.room)
            }
            None => "mp chat".to_string(),
        };
        if title != self.title {
            ctx.send_viewport_cmd(egui::ViewportCommand::Title(title.clone()));
            self.title = title;
        }
    }

    /// The window title the app last asked for.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// The one-time font note and the room still hosted, above the connect form.
    fn connect_notes(&mut self, ui: &mut egui::Ui) {
        let visuals = ui.visuals().clone();
        if let Some(note) = &self.font_note {
            let mut dismiss = false;
            ui.horizontal_wrapped(|ui| {
                ui.label(RichText::new(note).color(visuals.warn_fg_color));
                dismiss = ui.button("OK").clicked();
            });
            if dismiss {
                self.font_note = None;
            }
        }
        if let Some(addrs) = self.hosting_addresses() {
            let list = addrs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            let mut end = false;
            ui.horizontal_wrapped(|ui| {
                ui.label(RichText::new(format!("hosting at {list}")).strong().color(visuals.hyperlink_color));
                end = ui.button("End the room").clicked();
            });
            if end {
                self.end_hosted_room();
            }
        }
    }
}

impl eframe::App for ChatApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.pump_events();
        let ctx = ui.ctx().clone();
        self.update_title(&ctx);
        if let Some(chat) = &mut self.chat {
            match chat.ui(ui) {
                Some(ChatAction::Send(text)) => {
                    let line = chat.send(&text);
                    if let Some(s) = &self.session {
                        s.send_line(line, &text);
                    }
                }
                Some(ChatAction::Leave { end_room }) => self.leave(end_room),
                Some(ChatAction::Rejoin) => self.rejoin(),
                Some(ChatAction::Close) => {
                    self.chat = None;
                    self.form.notice = None;
                }
                None => {}
            }
        } else {
            let action = egui::CentralPanel::default()
                .show(ui, |ui| {
                    egui::ScrollArea::vertical()
                        .show(ui, |ui| {
                            self.connect_notes(ui);
                            self.form.ui(ui)
                        })
                        .inner
                })
                .inner;
            match action {
                Some(ConnectAction::Join) => self.join(),
                Some(ConnectAction::Host) => self.host(),
                None => {}
            }
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, STORAGE_KEY, &self.form);
    }

    /// Closing the window leaves the room and ends a room this window hosts.
    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        self.session = None;
        self.hosted = None;
    }
}
