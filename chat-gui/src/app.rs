//! The app: which screen shows, the session, persistence, the window title.

use crate::chat::{ChatAction, ChatView, Status};
use crate::connect::{ConnectAction, ConnectForm};
use crate::host::HostedRoom;
use crate::session::Session;
use chat_core::client::{ClientEvent, CloseReason};
use chat_core::protocol::Event;
use chat_core::server::Config;
use std::net::SocketAddr;

const STORAGE_KEY: &str = "connect_form";

/// Join at once with these (from the command line).
#[derive(Debug, Clone, Default)]
pub struct AutoJoin {
    /// Server address.
    pub server: Option<String>,
    /// Name.
    pub name: Option<String>,
}

impl AutoJoin {
    /// Reads `--server ADDR:PORT` and `--name NAME`.
    pub fn from_args(args: impl Iterator<Item = String>) -> AutoJoin {
        let mut a = AutoJoin::default();
        let mut args = args.peekable();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--server" => a.server = args.next(),
                "--name" => a.name = args.next(),
                _ => {}
            }
        }
        a
    }
}

/// The desktop chat app.
pub struct ChatApp {
    /// The connect form (kept across sessions, and saved between runs).
    pub form: ConnectForm,
    /// The chat screen, while in a room.
    pub chat: Option<ChatView>,
    session: Option<Session>,
    hosted: Option<HostedRoom>,
    connecting_to: Option<SocketAddr>,
    unread: usize,
    title: String,
    ctx: egui::Context,
}

impl std::fmt::Debug for ChatApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatApp").field("form", &self.form).field("in_room", &self.chat.is_some()).finish()
    }
}

impl ChatApp {
    /// The app, with the last address and name restored (eframe persistence).
    pub fn new(cc: &eframe::CreationContext<'_>, auto: AutoJoin) -> ChatApp {
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
            session: None,
            hosted: None,
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

    /// Whether a room is being shown.
    pub fn in_room(&self) -> bool {
        self.chat.is_some()
    }

    fn parse_address(&mut self) -> Option<SocketAddr> {
        match self.form.address.trim().parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.form.address_error =
                    Some(format!("“{}” is not an address like 127.0.0.1:8888", self.form.address.trim()));
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
        }
        let Some(addr) = addr else { return };
        if self.form.name_error.is_some() {
            return;
        }
        let ctx = self.ctx.clone();
        match Session::start(addr, &self.form.name, move || ctx.request_repaint()) {
            Ok(s) => {
                self.session = Some(s);
                self.connecting_to = Some(addr);
                self.form.busy = true;
            }
            Err(e) => self.form.address_error = Some(format!("Cannot connect: {e}")),
        }
    }

    /// The "Host a room here" button.
    pub fn host(&mut self) {
        self.form.clear_errors();
        let Some(addr) = self.parse_address() else { return };
        if self.hosted.as_ref().is_none_or(|h| h.addr() != addr) {
            self.hosted = None;
            match HostedRoom::start(addr, Config::default()) {
                Ok(h) => self.hosted = Some(h),
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    // A room already runs there: join it.
                }
                Err(e) => {
                    self.form.address_error = Some(format!("Cannot host a room at {addr}: {e}"));
                    return;
                }
            }
        }
        self.join();
    }

    fn leave(&mut self) {
        if let Some(s) = &self.session {
            s.leave();
        }
    }

    /// Handles what the session reported.
    pub fn pump_events(&mut self) {
        let Some(session) = &self.session else { return };
        let events = session.events();
        for e in events {
            match e {
                ClientEvent::Connected => {
                    let room = self.connecting_to.map(|a| a.to_string()).unwrap_or_default();
                    self.chat = Some(ChatView::new(room, self.form.name.clone()));
                    self.form.busy = false;
                    if let Some(s) = &self.session {
                        s.send_line("/who");
                    }
                }
                ClientEvent::Reconnecting { retry_in } => {
                    if let Some(c) = &mut self.chat {
                        let what = if retry_in.is_zero() {
                            "the server stopped answering".to_string()
                        } else {
                            format!("next try in {} s", retry_in.as_secs())
                        };
                        c.status = Status::Reconnecting(what);
                    }
                }
                // Honest sending (a line shown as sent once accepted) is not wired in yet.
                ClientEvent::Accepted(_) => {}
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
                        s.send_line("/who");
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
                ClientEvent::Closed(why) => {
                    self.form.busy = false;
                    let was_in_room = self.chat.take().is_some();
                    match why {
                        CloseReason::Refused(r) => self.form.name_error = Some(format!("Refused: {r}.")),
                        CloseReason::Unreachable => {
                            let addr = self.form.address.trim().to_string();
                            self.form.address_error = Some(format!("No chat server answers at {addr}."));
                        }
                        CloseReason::Goodbye | CloseReason::QuitUnanswered => {
                            self.form.notice = was_in_room.then(|| "You left the room.".to_string());
                        }
                        CloseReason::Kicked => {
                            self.form.notice = Some("You were removed by the operator.".into())
                        }
                        CloseReason::Shutdown => self.form.notice = Some("The server shut down.".into()),
                    }
                    self.session = None;
                }
            }
        }
    }

    fn update_title(&mut self, ctx: &egui::Context) {
        let focused = ctx.input(|i| i.viewport().focused.unwrap_or(true));
        if focused {
            self.unread = 0;
        }
        let title = match &self.chat {
            Some(c) if self.unread > 0 => format!("mp chat — {} ({} unread)", c.room, self.unread),
            Some(c) => format!("mp chat — {}", c.room),
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
}

impl eframe::App for ChatApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.pump_events();
        let ctx = ui.ctx().clone();
        self.update_title(&ctx);
        if let Some(chat) = &mut self.chat {
            match chat.ui(ui) {
                Some(ChatAction::Send(line)) => {
                    chat.own_line(&line);
                    if let Some(s) = &self.session {
                        s.send_line(&line);
                    }
                }
                Some(ChatAction::Leave) => self.leave(),
                None => {}
            }
        } else {
            let action = egui::CentralPanel::default().show(ui, |ui| self.form.ui(ui)).inner;
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
}
