// The path of `citizen` (a request made on the portal with a photo, then followed and
// completed on the tracking page) in a browser with JavaScript turned off.

import { citizenPath } from './citizen.mjs';

export default async function citizenNoJs(t) {
    await citizenPath(t, false);
}
