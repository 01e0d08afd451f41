"""Write web/screenshot.png, the README's picture of the draw-a-digit page: headless Chromium,
driven by the browser test's driver (effmnist_utils.use.browser), draws every digit and then one for
the picture. Prints what a first visit downloads (bytes over the wire per file, headers included),
the page's load time (navigation to ready to answer, each load a new browser), the time to the first answer (load, then
one digit drawn: ready plus that prediction), and the time per prediction (preparation plus the
int8 model, per drawn frame), as measured in that browser on this machine.

Usage: .venv/bin/python tools/web_screenshot.py [--digit 4] [--out web/screenshot.png]
       .venv/bin/python tools/web_screenshot.py --root OTHER/web --out none   (another copy of the
       page, e.g. an older checkout's with `npm ci --prefix OTHER/web`, measured the same way)
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
    parser.add_argument("--out", default=str(web.WEB_DIR / "screenshot.png"), help="'none': no picture")
    parser.add_argument("--root", type=Path, default=web.WEB_DIR, help="the page's folder")
    parser.add_argument("--loads", type=int, default=5, help="page loads to time")
    args = parser.parse_args()
    try:
        if args.root == web.WEB_DIR:  # another copy may load other files: it is measured as it is
            web.check(args.root)
        loads, first, visits = [], [], []
        with web.serving(args.root) as server:
            for _ in range(args.loads):  # each a first visit: a new browser, nothing cached
                with Chromium(width=820, height=720) as browser:
                    state = browser.open(web.url(server))
                    visits.append(browser.downloads())
                    browser.draw(DIGIT_STROKES[args.digit])
                    answered = browser.answered()
                loads.append(state["timings"]["readyMs"])
                first.append(state["timings"]["readyMs"] + answered["timings"]["predictMs"][0])
            with Chromium(width=820, height=720) as browser:
                browser.open(web.url(server))
                read = []
                for digit in list(range(10)) + [args.digit]:
                    browser.click(".clear")
                    browser.draw(DIGIT_STROKES[digit])
                    state = browser.answered()
                    read.append(state["answer"]["top3"][0][0] if state["answer"]["top3"] else None)
                browser.driver.execute_script("window.scrollTo(0, 0)")
                if args.out != "none":
                    browser.screenshot(args.out)
    except (web.WebError, BrowserMissing) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    times = state["timings"]["predictMs"]
    print(f"{args.root}: digits drawn 0-9 and {args.digit}, read as {read}"
          + (f"; wrote {args.out}" if args.out != "none" else ""))
    origin = web.url(server)
    for url, size in sorted(visits[0].items(), key=lambda item: -item[1]):
        print(f"  {size:>12,} bytes  /{url[len(origin):]}")
    totals = [sum(visit.values()) for visit in visits]
    print(f"a first visit downloads {totals[0]:,} bytes in {len(visits[0])} files"
          + ("" if len(set(totals)) == 1 else f" (up to {max(totals):,} over {len(totals)} visits)"))
    print(f"page load to ready: median {statistics.median(loads):.0f} ms over {len(loads)} loads "
          f"(min {min(loads):.0f}, max {max(loads):.0f}); to the first answer: median "
          f"{statistics.median(first):.0f} ms (min {min(first):.0f}, max {max(first):.0f})")
    print(f"time per prediction (preparation + int8 model): median {statistics.median(times):.1f} ms, "
          f"90th percentile {statistics.quantiles(times, n=10)[-1]:.1f} ms over {len(times)} predictions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
