//! `chat-gui`: the desktop chat client. `chat-gui [--server ADDR:PORT] [--name NAME]`; with both
//! given it joins at once.

fn main() -> eframe::Result {
    let auto = chat_gui::AutoJoin::from_args(std::env::args().skip(1));
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default().with_inner_size([820.0, 560.0]).with_title("mp chat"),
        ..Default::default()
    };
    eframe::run_native("mp chat", options, Box::new(move |cc| Ok(Box::new(chat_gui::ChatApp::new(cc, auto)))))
}
