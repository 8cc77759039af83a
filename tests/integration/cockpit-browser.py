#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Drives the MicroVMs page of Cockpit in headless Chromium, inside the test container.

    cockpit-browser.py owner USER PASSWORD VM OTHER_VM SCREENSHOT
        logs in as USER; the page lists VM and not OTHER_VM (someone else's); Start makes
        VM's row say running without a reload, then Ready yes; saves SCREENSHOT; the
        details show the log; Stop brings it back to stopped.
    cockpit-browser.py refused USER PASSWORD NAME
        logs in as USER (not allowed to create VMs), creates NAME on the page: the page
        shows polkit's refusal in plain words.

Prints one line per step; exit status 1 at the first step that fails.
"""
import sys
import tempfile
import time

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

BASE = "http://127.0.0.1:9090"
FRAME = "cockpit1:localhost/microvm"


def step(text):
    print(f"  browser: {text}", flush=True)


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-quic", "--window-size=1280,900",
                f"--user-data-dir={tempfile.mkdtemp(prefix='microvm-chromium-')}"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def wait(driver, seconds, condition, what):
    try:
        return WebDriverWait(driver, seconds, poll_frequency=0.25).until(condition)
    except TimeoutException:
        raise SystemExit(f"FAIL: {what} (within {seconds} s)")


def login_and_open(driver, user, password):
    driver.get(BASE + "/")
    # Clickable, not only present: Cockpit 337 (Debian 13) shows the form only once its
    # script ran; typing into it before then fails with "element not interactable".
    wait(driver, 60, EC.element_to_be_clickable((By.ID, "login-user-input")), "the login page")
    driver.find_element(By.ID, "login-user-input").send_keys(user)
    driver.find_element(By.ID, "login-password-input").send_keys(password)
    driver.find_element(By.ID, "login-button").click()
    wait(driver, 60, lambda d: "login-user-input" not in d.page_source or d.current_url != BASE + "/",
         f"logging in as {user}")
    step(f"logged in as {user}")
    driver.get(BASE + "/microvm")
    frame = wait(driver, 60, EC.presence_of_element_located((By.CSS_SELECTOR, f'iframe[name="{FRAME}"]')),
                 "the MicroVMs page in Cockpit's shell")
    driver.switch_to.frame(frame)
    wait(driver, 60, EC.presence_of_element_located((By.CSS_SELECTOR, "body.microvm-ready")),
         "the page connected to Cockpit")
    step("the MicroVMs page is open in Cockpit's shell")


def row_text(driver, vm, column):
    try:
        return driver.find_element(By.CSS_SELECTOR, f'tr[data-vm="{vm}"] td.{column}').text
    except Exception:
        return None


def owner(user, password, vm, other_vm, screenshot):
    driver = browser()
    try:
        login_and_open(driver, user, password)
        wait(driver, 30, EC.presence_of_element_located((By.CSS_SELECTOR, f'tr[data-vm="{vm}"]')),
             f"{vm} in the list")
        if driver.find_elements(By.CSS_SELECTOR, f'tr[data-vm="{other_vm}"]'):
            raise SystemExit(f"FAIL: {other_vm} (someone else's) is in {user}'s list")
        step(f"the list shows {vm} ({row_text(driver, vm, 'state')}), not {other_vm}")
        marker = driver.execute_script("window.microvmNoReload = 42; return window.microvmNoReload;")
        driver.find_element(By.CSS_SELECTOR, f'tr[data-vm="{vm}"] button.start').click()
        wait(driver, 120, lambda d: row_text(d, vm, "state") == "running", f"{vm} running after Start")
        step(f"Start: the row says running, address {row_text(driver, vm, 'address')}")
        wait(driver, 180, lambda d: row_text(d, vm, "ready") == "yes", f"{vm} Ready after Start")
        step("the row says Ready yes")
        if driver.execute_script("return window.microvmNoReload;") != marker:
            raise SystemExit("FAIL: the page was reloaded")
        step("without a reload")
        driver.find_element(By.CSS_SELECTOR, f'tr[data-vm="{vm}"] button.microvm-name').click()
        wait(driver, 30, lambda d: d.find_element(By.ID, "details-log").text not in ("", "Loading\u2026"),
             "the log in the details")
        log = driver.find_element(By.ID, "details-log").text
        step(f"details: {len(log.splitlines())} log lines, the last: {log.splitlines()[-1][:100]!r}")
        driver.switch_to.default_content()
        driver.save_screenshot(screenshot)
        step(f"screenshot {screenshot}")
        driver.switch_to.frame(driver.find_element(By.CSS_SELECTOR, f'iframe[name="{FRAME}"]'))
        driver.find_element(By.CSS_SELECTOR, f'tr[data-vm="{vm}"] button.stop').click()
        wait(driver, 120, lambda d: row_text(d, vm, "state") == "stopped", f"{vm} stopped after Stop")
        step("Stop: the row says stopped")
        driver.set_window_size(390, 844)
        time.sleep(1)
        width = driver.execute_script("return document.documentElement.scrollWidth;")
        step(f"at a phone's width (390 px) the page is {width} px wide")
        if width > 400:
            raise SystemExit(f"FAIL: the page does not fit a phone's width ({width} px)")
    finally:
        driver.quit()


def refused(user, password, name):
    driver = browser()
    try:
        login_and_open(driver, user, password)
        driver.find_element(By.ID, "create-open").click()
        driver.find_element(By.ID, "create-name").send_keys(name)
        driver.find_element(By.ID, "create-submit").click()
        wait(driver, 30, lambda d: d.find_element(By.ID, "error").is_displayed(), "the refusal shown")
        text = driver.find_element(By.ID, "error-text").text
        step(f"the page says: {text}")
        if "Not allowed" not in text:
            raise SystemExit("FAIL: the refusal is not in plain words")
    finally:
        driver.quit()


def main():
    if sys.argv[1] == "owner":
        owner(*sys.argv[2:7])
    elif sys.argv[1] == "refused":
        refused(*sys.argv[2:5])
    else:
        raise SystemExit(f"unknown mode {sys.argv[1]}")


if __name__ == "__main__":
    main()
