//! The desktop chat client, on the same `chat-core` session as `chat-cli`.
//!
//! [`ChatApp`] is the eframe app: a connect screen ([`connect`]) and a chat screen ([`chat`])
//! with its transcript ([`log`]), over a session that runs on its own thread ([`session`]) and
//! wakes the UI when something arrives. [`fonts`] adds a system CJK font for Chinese text,
//! [`host`] runs a room on this machine. The app state can be driven without a window (see the
//! `egui_kittest` tests).
#![deny(missing_docs)]

mod app;
pub mod args;
pub mod chat;
pub mod connect;
pub mod fonts;
pub mod host;
pub mod log;
pub mod session;
pub mod theme;

pub use app::ChatApp;
pub use args::AutoJoin;

/// The smallest window the screens are laid out for.
pub const MIN_WINDOW: [f32; 2] = [320.0, 240.0];

/// Opens the window (`size` in points, default 820×560) and runs the app until it is closed.
///
/// # Errors
///
/// One sentence for the user: no display, or the window could not be opened.
pub fn run(auto: AutoJoin, size: Option<[f32; 2]>) -> Result<(), String> {
    if !args::has_display() {
        return Err("no display to open a window on (DISPLAY and WAYLAND_DISPLAY are not set); \
                    run it in a desktop session, or under Xvfb"
            .into());
    }
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_inner_size(size.unwrap_or([820.0, 560.0]))
            .with_min_inner_size(MIN_WINDOW)
            .with_title("mp chat"),
        ..Default::default()
    };
    eframe::run_native("mp chat", options, Box::new(move |cc| Ok(Box::new(ChatApp::new(cc, auto))))).map_err(
        |e| match e {
            eframe::Error::WinitEventLoop(_) | eframe::Error::Winit(_) => {
                let shown = std::env::var("DISPLAY")
                    .or_else(|_| std::env::var("WAYLAND_DISPLAY"))
                    .unwrap_or_default();
                format!("cannot open a window on display {shown:?}: is a display server running there?")
            }
            other => format!("cannot open a window: {other}"),
        },
    )
}
