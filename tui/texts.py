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
    "col.elapsed": {"es": "Espera", "en": "Wait"},
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
    # --- dashboard and alarm handling ---
    "key.take": {"es": "Tomar", "en": "Take"},
    "key.note": {"es": "Nota", "en": "Note"},
    "key.resolve": {"es": "Cerrar", "en": "Resolve"},
    "key.hold": {"es": "En espera", "en": "Hold"},
    "key.card": {"es": "Ficha", "en": "Account"},
    "key.mute": {"es": "Silenciar", "en": "Mute"},
    "key.filter": {"es": "Filtrar", "en": "Filter"},
    "key.pause": {"es": "Pausa", "en": "Pause"},
    "key.settings": {"es": "Ajustes", "en": "Settings"},
    "key.logout": {"es": "Salir sesión", "en": "Log out"},
    "filter.text": {"es": "Buscar cliente, cuenta o evento…", "en": "Search customer, account or event…"},
    "filter.account": {"es": "Cuenta", "en": "Account"},
    "filter.priority": {"es": "Prioridad", "en": "Priority"},
    "filter.status": {"es": "Estado", "en": "Status"},
    "filter.any": {"es": "Todas", "en": "Any"},
    "filter.paused": {"es": "⏸ Pausado: {count} nuevos", "en": "⏸ Paused: {count} new"},
    "filter.active": {"es": "Filtro activo", "en": "Filter on"},
    "action.taken": {"es": "Evento #{id} tomado", "en": "Event #{id} taken"},
    "action.noted": {"es": "Nota agregada al evento #{id}", "en": "Note added to event #{id}"},
    "action.resolved": {"es": "Evento #{id} cerrado", "en": "Event #{id} resolved"},
    "action.held": {"es": "Evento #{id} en espera hasta {time}", "en": "Event #{id} on hold until {time}"},
    "action.no_selection": {"es": "Seleccione un evento", "en": "Select an event"},
    "action.note_title": {"es": "Nota para el evento #{id}", "en": "Note for event #{id}"},
    "action.resolve_title": {"es": "Cerrar evento #{id}", "en": "Resolve event #{id}"},
    "action.hold_title": {"es": "Poner en espera el evento #{id}", "en": "Put event #{id} on hold"},
    "action.hold_minutes": {"es": "Minutos de espera (p. ej. 15)", "en": "Minutes on hold (e.g. 15)"},
    "action.hold_invalid": {"es": "Indique minutos entre 1 y 1440", "en": "Give minutes between 1 and 1440"},
    "action.note_placeholder": {"es": "Escriba la nota y presione Enter", "en": "Type the note and press Enter"},
    "action.optional_note": {"es": "Nota (opcional)", "en": "Note (optional)"},
    "action.cancel": {"es": "Cancelar", "en": "Cancel"},
    "action.accept": {"es": "Aceptar", "en": "OK"},
    "pending.taken_by": {"es": "Tomado: {name}", "en": "Taken: {name}"},
    "pending.hold_until": {"es": "Espera hasta {time}", "en": "On hold until {time}"},
    "bar.standby": {"es": "Receptor en {owner}", "en": "Receiver on {owner}"},
    "bar.rate": {"es": "{rate}/min", "en": "{rate}/min"},
    "bar.sync_off": {"es": "Odoo: no configurado", "en": "Odoo: not configured"},
    "bar.sync_ok": {"es": "Odoo: al día", "en": "Odoo: up to date"},
    "bar.sync_backlog": {"es": "Odoo: {pending} en cola", "en": "Odoo: {pending} queued"},
    "bar.sync_down": {"es": "Odoo: sin conexión ({pending} en cola)", "en": "Odoo: unreachable ({pending} queued)"},
    "bar.operator": {"es": "{name}", "en": "{name}"},
    "sound.speaker": {"es": "🔊 Altavoz", "en": "🔊 Speaker"},
    "sound.bell": {"es": "🔔 Solo campana", "en": "🔔 Bell only"},
    "sound.muted": {"es": "🔇 Silencio hasta {time}", "en": "🔇 Muted until {time}"},
    "sound.starting": {"es": "Sonido…", "en": "Sound…"},
    "sound.muted_for": {"es": "Sonido silenciado {minutes} min", "en": "Sound muted {minutes} min"},
    "sound.unmuted": {"es": "Sonido activado", "en": "Sound on"},
    # --- log-in ---
    "login.title": {"es": "Iniciar sesión", "en": "Log in"},
    "login.user": {"es": "Usuario", "en": "User"},
    "login.password": {"es": "Contraseña", "en": "Password"},
    "login.submit": {"es": "Entrar", "en": "Enter"},
    "login.failed": {"es": "Usuario o contraseña incorrectos", "en": "Wrong user or password"},
    "login.no_operators": {
        "es": "No hay operadores. Cree el primer administrador con:\n  centinela operators add USUARIO --role admin",
        "en": "There are no operators. Create the first admin with:\n  centinela operators add USER --role admin",
    },
    "login.demo_hint": {"es": "Demostración: usuario demo, contraseña demo1234", "en": "Demo: user demo, password demo1234"},
    "role.refused": {"es": "Solo administradores", "en": "Admins only"},
    # --- account card (tui/screens/account_card.py) ---
    "card.title": {"es": "Cuenta {account}", "en": "Account {account}"},
    "card.opened_from": {"es": "Desde el evento #{id} de las {time}: {event} {zone}",
                         "en": "From event #{id} at {time}: {event} {zone}"},
    "card.section.customer": {"es": "Cliente", "en": "Customer"},
    "card.section.calls": {"es": "Lista de llamadas", "en": "Call list"},
    "card.section.plan": {"es": "Plan de acción", "en": "Action plan"},
    "card.section.service": {"es": "Servicio", "en": "Service"},
    "card.section.location": {"es": "Ubicación", "en": "Location"},
    "card.section.zones": {"es": "Zonas", "en": "Zones"},
    "card.section.notes": {"es": "Notas de la cuenta", "en": "Account notes"},
    "card.section.history": {"es": "Historial de la cuenta", "en": "Account history"},
    "card.field.tax_id": {"es": "Id. fiscal", "en": "Tax ID"},
    "card.field.phone": {"es": "Teléfono", "en": "Phone"},
    "card.field.mobile": {"es": "Celular", "en": "Mobile"},
    "card.field.email": {"es": "Correo", "en": "Email"},
    "card.field.address": {"es": "Dirección", "en": "Address"},
    "card.field.remarks": {"es": "Obs.", "en": "Remarks"},
    "card.field.coordinates": {"es": "Coordenadas", "en": "Coordinates"},
    "card.field.panel": {"es": "Panel", "en": "Panel"},
    "card.field.receiver": {"es": "Receptor / línea", "en": "Receiver / line"},
    "card.field.last_seen": {"es": "Último reporte", "en": "Last report"},
    "card.late": {"es": "⚠ sin prueba a tiempo", "en": "⚠ late to test"},
    "card.no_account_number": {"es": "El evento no trae número de cuenta", "en": "The event carries no account number"},
    "card.unregistered": {"es": "Cuenta no registrada: sin datos del cliente",
                          "en": "Account not registered: no customer data"},
    "card.no_customer": {"es": "Sin cliente asignado", "en": "No customer assigned"},
    "card.no_contacts": {"es": "Sin contactos", "en": "No contacts"},
    "card.no_phone": {"es": "sin teléfono", "en": "no phone"},
    "card.no_plan": {"es": "Sin instrucciones", "en": "No instructions"},
    "card.no_contracts": {"es": "Sin contrato", "en": "No contract"},
    "card.no_location": {"es": "Sin ubicación", "en": "No location"},
    "card.no_zones": {"es": "Sin zonas", "en": "No zones"},
    "card.no_notes": {"es": "Sin notas", "en": "No notes"},
    "card.kind.alarm": {"es": "Monitoreo", "en": "Monitoring"},
    "card.kind.internet": {"es": "Internet", "en": "Internet"},
    "card.state.draft": {"es": "Borrador", "en": "Draft"},
    "card.state.active": {"es": "Activo", "en": "Active"},
    "card.state.grace": {"es": "En gracia", "en": "In grace"},
    "card.state.notice": {"es": "Aviso de corte", "en": "Cut-off notice"},
    "card.state.suspended": {"es": "Suspendido", "en": "Suspended"},
    "card.state.cancelled": {"es": "Cancelado", "en": "Cancelled"},
    "card.days_left": {"es": "corte el {date} (faltan {days} d)", "en": "cut-off on {date} ({days} d left)"},
    "card.suspended_since": {"es": "desde el {date}", "en": "since {date}"},
    "card.note.title": {"es": "Nota para la cuenta {account}", "en": "Note for account {account}"},
    "card.note.saved": {"es": "Nota guardada en la cuenta", "en": "Note saved on the account"},
    "card.note.not_saved": {"es": "No se guardó la nota: {error}", "en": "The note was not saved: {error}"},
    "card.note.unregistered": {"es": "Cuenta no registrada: anote en el evento",
                               "en": "Account not registered: note it on the event"},
    "card.key.close": {"es": "Volver", "en": "Back"},
    "card.key.note": {"es": "Nota", "en": "Note"},
    # --- end of account card ---
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
