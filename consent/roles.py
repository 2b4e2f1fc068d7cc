PERMISSIONS = {
    "Marketing": [
        "consent.view_consentevent",
        "consent.view_consentstate",
        "consent.view_consentnotice",
        "consent.view_reconsentpolicy",
    ],
    "Compliance": [
        "consent.view_consentevent",
        "consent.view_consentstate",
        "consent.view_consentnotice",
        "consent.add_consentnotice",
        "consent.change_consentnotice",
        "consent.publish_consentnotice",
        "consent.view_reconsentpolicy",
        "consent.add_reconsentpolicy",
        "consent.change_reconsentpolicy",
        "consent.export_proof",
        "consent.view_ledgerseal",
    ],
}
