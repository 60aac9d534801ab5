# SPDX-License-Identifier: Apache-2.0
"""A person unsubscribes in a real browser (headless Chromium through
Selenium and chromedriver): loading the unsubscribe link's page records
nothing — that is all a mail gateway's link scanner does — and pressing its
button records the opt-out, which stops the next send to the person on that
channel.  If Chromium cannot start, the test fails: it never skips."""
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from fakes import FakeProvider
from kanal import WRITE_TOKEN, validate_record, webhook_source
from test_contacts import contact_of, person_record, post


def chromium(tmp_path):
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        opts.add_argument(arg)
    service = Service(executable_path="/usr/bin/chromedriver",
                      log_output=str(tmp_path / "chromedriver.log"))
    return webdriver.Chrome(service=service, options=opts)


def feed_kinds(k, kind):
    return [r for r in k.feed() if r["kind"] == kind]


def test_a_person_unsubscribes_in_a_browser(make_kanald, tmp_path):
    with FakeProvider(default=(200, {}, {"id": "p1"})) as fake:
        k = make_kanald(sources=webhook_source(extra=f"send_url = {fake.url}/send"),
                        kanald="public_url = https://crm.example.com").start()
        cid = contact_of(k, post(k, person_record("b1", "webhook", "email:selin@example.com")))
        status, link = k.api("/v1/links", token=WRITE_TOKEN, method="POST",
                             body={"url": "https://shop.example.com/", "campaign": "Kasım <b>",
                                   "contact": cid, "action": "unsubscribe",
                                   "channel": "webhook"})
        assert status == 201, link
        url = f"http://127.0.0.1:{k.port}/u/{link['token']}"
        driver = chromium(tmp_path)
        try:
            driver.get(url)
            assert driver.title == "Unsubscribe"
            body = driver.find_element(By.TAG_NAME, "body").text
            assert "Kasım <b>" in body  # shown as text, not markup
            driver.save_screenshot(str(tmp_path / "unsubscribe-page.png"))
            # Loading (and reloading) the page records nothing.
            driver.refresh()
            assert feed_kinds(k, "optout") == []
            assert k.api(f"/v1/contacts/{cid}")[1]["consent"].get("webhook") is None
            [button] = driver.find_elements(By.CSS_SELECTOR, "form button")
            button.click()
            deadline = time.monotonic() + 60
            while driver.title != "You are unsubscribed":
                assert time.monotonic() < deadline, driver.page_source
                time.sleep(0.05)
            assert driver.current_url == url  # answered in place, no redirect
            driver.save_screenshot(str(tmp_path / "unsubscribed.png"))
        finally:
            driver.quit()
        assert (tmp_path / "unsubscribe-page.png").stat().st_size > 0
        [optout] = feed_kinds(k, "optout")
        validate_record(optout)
        assert optout["contact"] == cid and optout["channel"] == "webhook"
        assert optout["meta"]["via"] == "page"
        status, c = k.api(f"/v1/contacts/{cid}")
        assert c["consent"]["webhook"]["state"] == "optout"
        status, r = k.api("/v1/messages", token=WRITE_TOKEN, method="POST",
                          body={"source": "hooks", "to": "email:selin@example.com",
                                "text": "Yeni kampanya"})
        assert status == 202, r
        deadline = time.monotonic() + 60
        while (m := k.api(f"/v1/messages/{r['id']}")[1])["status"] not in ("sent", "failed"):
            assert time.monotonic() < deadline, m
            time.sleep(0.05)
        assert m["status"] == "failed" and m["reason"] == "opted_out"
        assert fake.requests == []
