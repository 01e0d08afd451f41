"""Write web/screenshot.png, the README's picture of the draw-a-digit page: headless Chromium,
driven by the browser test's driver (effmnist_utils.use.browser), draws every digit and then one for
the picture. Prints the page's load time (navigation to model ready) and the time per prediction
(preparation plus the int8 model, per drawn frame), as measured in that browser on this machine.

Usage: .venv/bin/python tools/web_screenshot.py [--digit 4] [--out web/screenshot.png]
Needs what the browser test needs: chromium, chromium-driver, selenium, `npm ci --prefix web`.
"""
import argparse
import statistics
import sys
from pathlib import Path

from effmnist_utils.use import web
from effmnist_utils.use.browser import DIGIT_STROKES, BrowserMissing, Chromium


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digit", type=int, choices=range(10), default=4)
    parser.add_argument("--out", type=Path, default=web.WEB_DIR / "screenshot.png")
    parser.add_argument("--loads", type=int, default=5, help="page loads to time")
    args = parser.parse_args()
    try:
        web.check(web.WEB_DIR)
        with web.serving(web.WEB_DIR) as server, Chromium(width=820, height=720) as browser:
            loads = [browser.open(web.url(server))["timings"]["readyMs"] for _ in range(args.loads)]
            read = []
            for digit in list(range(10)) + [args.digit]:
                browser.click(".clear")
                browser.draw(DIGIT_STROKES[digit])
                state = browser.answered()
                read.append(state["answer"]["top3"][0][0])
            browser.driver.execute_script("window.scrollTo(0, 0)")
            browser.screenshot(args.out)
    except (web.WebError, BrowserMissing) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    times = state["timings"]["predictMs"]
    print(f"wrote {args.out}; digits drawn 0-9 and {args.digit}, read as {read}")
    print(f"page load to model ready: median {statistics.median(loads):.0f} ms over {len(loads)} loads "
          f"(min {min(loads):.0f}, max {max(loads):.0f})")
    print(f"time per prediction (preparation + int8 model): median {statistics.median(times):.1f} ms, "
          f"90th percentile {statistics.quantiles(times, n=10)[-1]:.1f} ms over {len(times)} predictions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
