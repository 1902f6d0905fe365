import { expect, type Page, test } from "@playwright/test";
import { ADMIN } from "./support";

async function signIn(page: Page, email: string, password: string) {
  await page.goto("/login");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
}

async function signOut(page: Page) {
  await page.getByRole("button", { name: "Account menu" }).click();
  await page.getByRole("menuitem", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login$/);
}

test("an administrator creates an account; its first sign-in must choose a new password", async ({
  page,
}) => {
  const email = `olivia-${Date.now()}@lifeboat.test`;
  await signIn(page, ADMIN.email, ADMIN.password);
  await expect(page.getByRole("heading", { name: "Overview" })).toBeVisible();

  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Users" }).click();
  await expect(page.getByRole("heading", { name: "Users" })).toBeVisible();
  await page.getByRole("button", { name: "New account" }).click();
  const dialog = page.getByRole("dialog", { name: "New account" });
  await dialog.getByLabel("Name").fill("Olivia Operator");
  await dialog.getByLabel("E-mail").fill(email);
  await dialog.getByRole("button", { name: "Create account" }).click();
  const temporary = (await dialog.getByTestId("temporary-password").textContent())?.trim() ?? "";
  expect(temporary.length).toBeGreaterThanOrEqual(16);
  await page.screenshot({ path: "test-results/screenshots/users-new-account.png", fullPage: true });
  await dialog.getByRole("button", { name: "Close" }).click();
  const row = page.getByRole("row").filter({ hasText: email });
  await expect(row).toContainText("temporary password");
  await signOut(page);

  // First sign-in: everything else waits until the password is changed.
  await signIn(page, email, temporary);
  await expect(page).toHaveURL(/\/account$/);
  await expect(page.getByRole("alert").filter({ hasText: "temporary password" })).toBeVisible();
  await page.getByLabel("Temporary password").fill(temporary);
  await page.getByLabel("New password", { exact: true }).fill("short");
  await page.getByLabel("New password again").fill("short");
  await page.getByRole("button", { name: "Change password" }).click();
  await expect(page.locator("#password-error")).toContainText("at least 10 characters");
  // Long enough, but among the common ones: the server's strength check says why.
  await page.getByLabel("New password", { exact: true }).fill("password1234");
  await page.getByLabel("New password again").fill("password1234");
  await page.getByRole("button", { name: "Change password" }).click();
  await expect(page.locator("#password-error")).toContainText(
    "Choose a stronger password. This password is close to one of the most common ones.",
  );
  await page.getByLabel("New password", { exact: true }).fill("olivia-chose-this");
  await page.getByLabel("New password again").fill("olivia-chose-this");
  await page.getByRole("button", { name: "Change password" }).click();
  await expect(page.getByRole("heading", { name: "Overview" })).toBeVisible();
  await signOut(page);

  await signIn(page, email, temporary);
  await expect(page.getByRole("alert").filter({ hasText: "do not match" })).toBeVisible();
  await signIn(page, email, "olivia-chose-this");
  await expect(page.getByRole("heading", { name: "Overview" })).toBeVisible();
  // Not a site administrator: no Users entry.
  await expect(
    page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Users" }),
  ).toHaveCount(0);
  await page.goto("/account");
  await expect(page.getByText("No team yet")).toBeVisible();
  await page.screenshot({ path: "test-results/screenshots/account.png", fullPage: true });

  // The sign-ins and the password change are in the audit log.
  await signOut(page);
  await signIn(page, ADMIN.email, ADMIN.password);
  await expect(page.getByRole("heading", { name: "Overview" })).toBeVisible();
  await page.goto("/audit");
  await page.getByLabel("Who").fill(email);
  await page.getByRole("button", { name: "Apply filters" }).click();
  const rows = page.getByTestId("audit-row");
  // The weak password refused, then the change.
  await expect(rows.filter({ hasText: "account.change-password" })).toHaveCount(2);
  await expect(
    rows.filter({ hasText: "account.change-password" }).filter({ hasText: "failure" }),
  ).toHaveCount(1);
  await expect(rows.filter({ hasText: "auth.sign-in" }).filter({ hasText: "failure" })).toHaveCount(1);
  await expect(rows.filter({ hasText: "auth.sign-in" }).filter({ hasText: "success" })).toHaveCount(2);
  await page.screenshot({ path: "test-results/screenshots/audit-account.png", fullPage: true });
});
