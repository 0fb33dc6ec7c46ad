//! The connect screen: server address, name, "Join" and "Host a room here", with errors shown
//! in words next to the field they concern. The form keeps what was typed.
//!
//! Errors and notices can carry the server's words (a refusal's reason): they are shown
//! through [`visible`].

use chat_core::text::visible;
use egui::RichText;

/// What the user typed, and what went wrong with it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ConnectForm {
    /// Server address, `HOST:PORT`.
    pub address: String,
    /// Name to log in with.
    pub name: String,
    /// Error about the address (shown under it).
    #[serde(skip)]
    pub address_error: Option<String>,
    /// Error about the name (shown under it).
    #[serde(skip)]
    pub name_error: Option<String>,
    /// A notice about the last session (left, kicked, server shut down).
    #[serde(skip)]
    pub notice: Option<String>,
    /// Connecting now (the buttons wait).
    #[serde(skip)]
    pub busy: bool,
    /// The field to put the cursor in at the next frame (the one an error is about).
    #[serde(skip)]
    pub focus: Option<Field>,
}

/// A field of the form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The server address.
    Address,
    /// The name.
    Name,
}

/// What the user asked for on this screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectAction {
    /// Join the room at the address.
    Join,
    /// Start a room at the address on this machine, then join it.
    Host,
}

impl Default for ConnectForm {
    /// The defaults: `127.0.0.1:8888` and no name.
    fn default() -> Self {
        ConnectForm {
            address: "127.0.0.1:8888".into(),
            name: String::new(),
            address_error: None,
            name_error: None,
            notice: None,
            busy: false,
            focus: None,
        }
    }
}

impl ConnectForm {
    /// Clears the errors before a new attempt.
    pub fn clear_errors(&mut self) {
        self.address_error = None;
        self.name_error = None;
        self.notice = None;
    }

    /// Draws the screen; returns the button pressed, if any.
    pub fn ui(&mut self, ui: &mut egui::Ui) -> Option<ConnectAction> {
        let mut action = None;
        // Room to breathe on a big window; everything within reach on a small one.
        let small = ui.available_height() < 400.0;
        ui.vertical_centered(|ui| {
            ui.add_space(if small { 4.0 } else { 40.0 });
            ui.heading("mp chat");
            ui.label("A group chat room over UDP");
            ui.add_space(if small { 6.0 } else { 20.0 });
        });
        if let Some(n) = &self.notice {
            let color = ui.visuals().warn_fg_color;
            ui.vertical_centered(|ui| ui.label(RichText::new(&*visible(n)).color(color)));
            ui.add_space(10.0);
        }
        let width = ui.available_width().min(320.0);
        ui.vertical_centered(|ui| {
            ui.set_max_width(width);
            let enter = |r: &egui::Response, ui: &egui::Ui| {
                r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter))
            };

            let label = ui.label("Server address");
            let addr = ui
                .add(
                    egui::TextEdit::singleline(&mut self.address)
                        .desired_width(width)
                        .hint_text("127.0.0.1:8888"),
                )
                .labelled_by(label.id);
            let error_color = ui.visuals().error_fg_color;
            if self.focus == Some(Field::Address) {
                addr.request_focus();
                self.focus = None;
            }
            if let Some(e) = &self.address_error {
                ui.label(RichText::new(&*visible(e)).color(error_color));
            }
            ui.add_space(8.0);
            let label = ui.label("Your name");
            let name = ui
                .add(
                    egui::TextEdit::singleline(&mut self.name)
                        .desired_width(width)
                        .hint_text("1 to 32 characters"),
                )
                .labelled_by(label.id);
            if self.focus == Some(Field::Name) {
                name.request_focus();
                self.focus = None;
            }
            if let Some(e) = &self.name_error {
                ui.label(RichText::new(&*visible(e)).color(error_color));
            }
            ui.add_space(14.0);
            ui.add_enabled_ui(!self.busy, |ui| {
                ui.horizontal(|ui| {
                    if ui.button("Join").clicked() || (!self.busy && (enter(&addr, ui) || enter(&name, ui))) {
                        action = Some(ConnectAction::Join);
                    }
                    if ui
                        .button("Host a room here")
                        .on_hover_text("Start a room on this machine at the address above, then join it")
                        .clicked()
                    {
                        action = Some(ConnectAction::Host);
                    }
                });
            });
            if self.busy {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("Connecting…");
                });
            }
            ui.add_space(20.0);
            crate::theme::theme_switch(ui);
        });
        action
    }
}
