import { InjectionToken } from '@angular/core';

/** Where the hub runs unless the page address says otherwise (`scripts/serve` listens here). */
export const DEFAULT_HUB_URL = 'http://127.0.0.1:8000';

/** The hub's base URL, for HTTP requests; the Socket.IO connection is given the same one. */
export const HUB_URL = new InjectionToken<string>('HUB_URL');

/** The hub URL for this page: `?hub=http://host:port` in the address, or DEFAULT_HUB_URL. */
export function resolveHubUrl(search: string): string {
  const asked = new URLSearchParams(search).get('hub');
  return asked ? asked.replace(/\/+$/, '') : DEFAULT_HUB_URL;
}
