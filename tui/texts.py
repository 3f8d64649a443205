"""Every text the console shows, in Spanish (default) and English, in one catalogue."""

from __future__ import annotations

from typing import Literal

Language = Literal["es", "en"]

_TEXTS: dict[str, dict[Language, str]] = {
    "app.title": {"es": "Centinela", "en": "Centinela"},
    "app.subtitle": {"es": "Central de monitoreo", "en": "Monitoring station"},
    "app.starting": {"es": "Iniciando…", "en": "Starting…"},
    "app.start_failed": {"es": "No se pudo iniciar: {error}", "en": "Could not start: {error}"},
    "tab.events": {"es": "Eventos", "en": "Events"},
    "tab.pending": {"es": "Pendientes ({count})", "en": "Pending ({count})"},
    "col.id": {"es": "#", "en": "#"},
    "col.time": {"es": "Hora", "en": "Time"},
    "col.account": {"es": "Cuenta", "en": "Account"},
    "col.customer": {"es": "CLIENTE", "en": "CUSTOMER"},
    "col.event": {"es": "Evento", "en": "Event"},
    "col.zone": {"es": "Z/U", "en": "Z/U"},
    "col.partition": {"es": "Part.", "en": "Part."},
    "col.priority": {"es": "Prioridad", "en": "Priority"},
    "col.status": {"es": "Estado", "en": "Status"},
    "col.elapsed": {"es": "Espera", "en": "Waiting"},
    "customer.unknown": {"es": "⚠ CUENTA DESCONOCIDA", "en": "⚠ UNKNOWN ACCOUNT"},
    "customer.suspended": {"es": "[SUSPENDIDO]", "en": "[SUSPENDED]"},
    "placeholder": {"es": "—", "en": "—"},
    "zone.prefix": {"es": "Z", "en": "Z"},
    "user.prefix": {"es": "U", "en": "U"},
    "status.new": {"es": "Nuevo", "en": "New"},
    "status.pending": {"es": "Espera", "en": "On hold"},
    "status.acknowledged": {"es": "Tomado", "en": "Taken"},
    "status.resolved": {"es": "Cerrado", "en": "Closed"},
    "bar.listener_up": {"es": "▲ {label}", "en": "▲ {label}"},
    "bar.listener_down": {"es": "▼ {label} caído", "en": "▼ {label} down"},
    "bar.no_listeners": {"es": "Sin receptores", "en": "No receivers"},
    "bar.last_signal": {"es": "Última señal {time}", "en": "Last signal {time}"},
    "bar.no_signal": {"es": "Sin señales aún", "en": "No signals yet"},
    "bar.errors": {"es": "Errores de protocolo {count}", "en": "Protocol errors {count}"},
    "key.quit": {"es": "Salir", "en": "Quit"},
    "key.events": {"es": "Eventos", "en": "Events"},
    "key.pending": {"es": "Pendientes", "en": "Pending"},
}


class Texts:
    """Looks texts up in the operator's language; a missing key shows itself rather than crash."""

    def __init__(self, language: Language = "es") -> None:
        self.language: Language = language

    def __call__(self, key: str, **values: object) -> str:
        entry = _TEXTS.get(key)
        if entry is None:
            return key
        return entry[self.language].format(**values) if values else entry[self.language]


def all_keys() -> frozenset[str]:
    return frozenset(_TEXTS)


def missing_translations() -> list[str]:
    return [key for key, entry in _TEXTS.items() if set(entry) != {"es", "en"} or not all(entry.values())]
