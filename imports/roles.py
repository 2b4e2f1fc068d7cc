PERMISSIONS = {
    "Marketing": [
        "imports.add_contactimport",
        "imports.view_contactimport",
        "imports.view_exportjob",
    ],
    "Compliance": [
        "imports.view_exportjob",
    ],
}
