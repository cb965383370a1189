// siem-relay operator console (see README "Operator console").
"use strict";
document.getElementById("app").textContent = "siem-relay console";
