import { ApplicationConfig, provideBrowserGlobalErrorListeners } from '@angular/core';
import { provideHttpClient, withFetch } from '@angular/common/http';
import { provideSocketIo } from 'ngx-socket-io';

import { HUB_URL, resolveHubUrl } from './hub-url';

const hubUrl = resolveHubUrl(window.location.search);

export const appConfig: ApplicationConfig = {
  providers: [
    provideBrowserGlobalErrorListeners(),
    provideHttpClient(withFetch()),
    { provide: HUB_URL, useValue: hubUrl },
    // autoConnect off: TelemetryService sets `auth` (the resume point) before it connects
    provideSocketIo({ url: hubUrl, options: { transports: ['websocket'], autoConnect: false } }),
  ],
};
