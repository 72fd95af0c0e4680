//! How the client commands look on a terminal: colour and progress bars. Styled text is
//! always written through `anstream`'s print macros, which drop the colour when the stream
//! is not a terminal or `NO_COLOR` is set (and keep it with `CLICOLOR_FORCE`); progress bars
//! draw only on a terminal.

use anstyle::{AnsiColor, Style};

fn paint(style: Style, s: &str) -> String {
    format!("{style}{s}{style:#}")
}

/// A heading or a name that matters.
pub fn bold(s: &str) -> String {
    paint(Style::new().bold(), s)
}

/// What is made.
pub fn added(s: &str) -> String {
    paint(AnsiColor::Green.on_default(), s)
}

/// What is changed.
pub fn changed(s: &str) -> String {
    paint(AnsiColor::Yellow.on_default(), s)
}

/// What goes, or failed.
pub fn removed(s: &str) -> String {
    paint(AnsiColor::Red.on_default(), s)
}

/// A remark beside the work.
pub fn note(s: &str) -> String {
    paint(AnsiColor::Cyan.on_default(), s)
}

/// A progress bar over `steps`, on standard error when it is a terminal.
pub fn progress(steps: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(steps);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} {wide_msg}")
    {
        bar.set_style(style);
    }
    bar
}
