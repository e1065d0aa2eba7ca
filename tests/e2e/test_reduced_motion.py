"""A screen that asks for reduced motion gets no flashing (issue 14, point 3): the escalated badge's blink,
the alarm frame's flash and the map's pulses stop, in a real browser, against the demo city."""
from __future__ import annotations

from tests.brokers import wait_until
from tests.e2e.conftest import sign_in

PAGE_TIMEOUT_S = 20
ANIMATED = ("badge esc", "map-badge incident escalated")  # classes that blink or pulse (assets/*.css)


def _animations(browser) -> list[str]:
    """The animation of a blinking badge, a pulsing map badge and the alarm flash, as the page draws them."""
    return browser.execute_script("""
        var names = [];
        arguments[0].forEach(function (classes) {
          var probe = document.createElement('span'); probe.className = classes;
          var inner = document.createElement('div'); probe.appendChild(inner); document.body.appendChild(probe);
          names.push(getComputedStyle(probe).animationName + '/' + getComputedStyle(inner).animationName);
          probe.remove();
        });
        document.body.classList.add('alarm-flash');
        names.push(getComputedStyle(document.body, '::after').animationName);
        document.body.classList.remove('alarm-flash');
        return names;""", list(ANIMATED))


def test_flashing_stops_when_the_screen_asks_for_reduced_motion(served_city, browser):
    sign_in(browser, served_city, "manager", "/alarms")
    wait_until(lambda: browser.execute_script("return !!document.querySelector('.alarms-title')"), PAGE_TIMEOUT_S,
               interval=0.2, message="the alarms page")
    moving = _animations(browser)
    assert moving[0].startswith("dispatch-blink") and moving[1].endswith("pulse") and moving[2] == "alarm-flash", moving
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia",
                            {"features": [{"name": "prefers-reduced-motion", "value": "reduce"}]})
    assert _animations(browser) == ["none/none", "none/none", "none"]
